# The GPU worker: `python -m evaluator worker` on vLLM's official CUDA image.
#
#   docker build -t crisis-worker .
#   docker run --gpus all -e HF_TOKEN -e OPENAI_API_KEY crisis-worker --store hub:ORG/PREFIX --until-idle
#
# Arguments after the image name go to the worker; a full command (`python ...`, `bash ...`) runs
# as given, which is what Hugging Face Jobs send (`evaluator jobs schedule` runs
# `python -m evaluator worker --store hub:ORG/PREFIX --until-idle`). Secrets (HF_TOKEN, judge and
# API keys) come from the environment at run time, never from the image. See docs/deploy.md.
FROM vllm/vllm-openai:v0.33.0

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    HF_HOME=/var/cache/huggingface \
    CRISIS_MIRROR_DIR=/var/lib/crisis/mirror \
    CRISIS_EMBEDDED_WORKER=0

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. The worker's own set
# (requirements-worker.txt: no Gradio, which needs an older pillow than vLLM 0.33) goes in with
# every package the vLLM image already has held at its version (`pip list` as constraints, vLLM's
# own pin besides): a requirement that would move anything vLLM installed fails the build here
# instead of breaking the engine at run time.
COPY requirements-worker.txt requirements-gpu.txt ./
RUN python3 -m pip list --format=freeze --exclude-editable > /tmp/image-pins.txt \
    && python3 -m pip install -r requirements-worker.txt -c /tmp/image-pins.txt -c requirements-gpu.txt \
    && python3 -c "import vllm, importlib.metadata as m; assert m.version('vllm') == '0.33.0', m.version('vllm')" \
    && (command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python)

COPY evaluator/ evaluator/
COPY submissions/ submissions/
COPY docker/worker-entrypoint.sh /usr/local/bin/worker-entrypoint
RUN chmod 0755 /usr/local/bin/worker-entrypoint \
    && mkdir -p "$HF_HOME" "$CRISIS_MIRROR_DIR" \
    && python -m evaluator worker --help >/dev/null

# vLLM's image starts its OpenAI server; this one starts the worker.
ENTRYPOINT ["/usr/local/bin/worker-entrypoint"]
CMD ["--until-idle"]
