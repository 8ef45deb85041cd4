"""GPU generation: the project's hf: (and vllm:) backends against the plain library loops.

Builds its own random-weight model (no network): on CUDA a Llama body of about 1B parameters
(Llama 3.2 1B's shape, with the test tokenizer's small vocabulary), on CPU the tiny test
checkpoint. Every configuration generates for the same conversations (the public sample's 104
items, or --items of them) with the same greedy parameters, and counts new tokens the same way
(up to and including the first end token).

- hf: the project's backend as `evaluator run` builds it (`--batch-size auto`: on CUDA the static
  KV cache, bucketed prompts, compiled forward; on CPU today's dynamic-cache path), its first
  call (compiles) and a second call;
- plain transformers loops, the issue's table: batch 8 on the dynamic cache, a batch of every
  conversation on the dynamic cache, and (CUDA) a batch of every conversation on the static cache,
  compiled, after one warm-up: the reference the hf: goal is measured against (>= 0.8x);
- where vLLM is installed: the project's vllm: backend against vLLM's own `LLM.chat` (>= 0.95x).

Prints tokens/s, the GPU's busy share from nvidia-smi where it exists, and each ratio.

    PYTHONPATH=. python benchmarks/gpu_generation.py [--items 104] [--new-tokens 128]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluator.backends import GenerationParams, Reply
from evaluator.backends.hf import HFBackend
from evaluator.backends.spec import parse_spec
from evaluator.items import load_set

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"
# Llama 3.2 1B's body: about 1.0B parameters besides the (here small) vocabulary.
ONE_B = {
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
}


@dataclass
class Figure:
    name: str
    tokens: int
    seconds: float
    gpu_busy: float | None

    @property
    def rate(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


class GpuSampler:
    """nvidia-smi's utilization.gpu, sampled every 0.2 s while a configuration runs."""

    def __init__(self) -> None:
        self.available = shutil.which("nvidia-smi") is not None
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GpuSampler:
        if self.available:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "--id=0"]
        while not self._stop.wait(0.2):
            try:
                out = subprocess.run(query, capture_output=True, text=True, timeout=5).stdout.strip()
                self._samples.append(float(out.splitlines()[0]))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                return

    @property
    def busy(self) -> float | None:
        return sum(self._samples) / len(self._samples) if self._samples else None


def measure(name: str, run: Callable[[], int], sync: Callable[[], None]) -> Figure:
    with GpuSampler() as sampler:
        sync()
        start = time.perf_counter()
        tokens = run()
        sync()
        seconds = time.perf_counter() - start
    figure = Figure(name, tokens, seconds, sampler.busy)
    busy = "n/a" if figure.gpu_busy is None else f"{figure.gpu_busy:.0f}%"
    print(f"  {name:58s} {tokens:7d} tok {seconds:8.2f} s {figure.rate:10.1f} tok/s  GPU busy {busy}", flush=True)
    return figure


def build_model(directory: Path, cuda: bool) -> Path:
    """The tiny test checkpoint; on CUDA with a 1B-parameter random body in bfloat16."""
    from tests.support.tiny_checkpoint import build_tiny_checkpoint

    build_tiny_checkpoint(directory, max_positions=4096)
    if cuda:
        import torch
        from transformers import AutoConfig, LlamaForCausalLM

        config = AutoConfig.from_pretrained(directory)
        for key, value in ONE_B.items():
            setattr(config, key, value)
        config.head_dim = ONE_B["hidden_size"] // ONE_B["num_attention_heads"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model: Any = LlamaForCausalLM(config)
            model = model.to(torch.bfloat16)
        for stale in directory.glob("*.safetensors"):
            stale.unlink()
        model.save_pretrained(directory)
    return directory


def new_tokens(rows: Any, width: int, eos: set[int]) -> int:
    """Tokens generated per row up to and including its first end token (as the backends count)."""
    total = 0
    for row in rows.tolist():
        generated = row[width:]
        stop = next((i for i, t in enumerate(generated) if t in eos), None)
        total += len(generated) if stop is None else stop + 1
    return total


def plain_loop(
    directory: Path, conversations: Sequence[Any], max_new: int, batch: int, device: str, static: bool
) -> Callable[[], int]:
    """A plain transformers loop: the chat template, left padding, generate, nothing else."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    tokenizer = AutoTokenizer.from_pretrained(directory)
    tokenizer.padding_side = "left"
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    model: Any = AutoModelForCausalLM.from_pretrained(directory, dtype=dtype)
    model = model.to(device).eval()
    eos = {tokenizer.eos_token_id}
    prompts = [
        tokenizer.apply_chat_template(list(c), add_generation_prompt=True, tokenize=False) for c in conversations
    ]
    options: dict[str, Any] = {"max_new_tokens": max_new, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
    if static:
        options["cache_implementation"] = "static"
    config = GenerationConfig(eos_token_id=tokenizer.eos_token_id, **options)

    def run() -> int:
        total = 0
        for start in range(0, len(prompts), batch):
            encoded = tokenizer(
                prompts[start : start + batch], return_tensors="pt", padding=True, add_special_tokens=False
            )
            encoded = {k: v.to(device) for k, v in encoded.items()}
            with torch.inference_mode():
                out = model.generate(**encoded, generation_config=config)
            total += new_tokens(out, encoded["input_ids"].shape[1], eos)
        return total

    return run


def completion_tokens(replies: Sequence[Reply]) -> int:
    failed = [r.error for r in replies if not r.ok]
    if failed:
        raise SystemExit(f"a backend failed: {failed[0]}")
    return sum(r.completion_tokens or 0 for r in replies)


def vllm_figures(
    directory: Path, conversations: Sequence[Any], params: GenerationParams, sync: Callable[[], None]
) -> None:
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams

    from evaluator.backends.vllm import ModelCard, VLLMBackend, sampling_options, start_vllm_engine

    messages = [list(c) for c in conversations]
    raw = LLM(model=str(directory), max_model_len=4096, generation_config="vllm")
    sampling = SamplingParams(**sampling_options(params))
    raw.chat(messages[:2], sampling_params=sampling, use_tqdm=False)  # warm-up

    def run_raw() -> int:
        outputs = raw.chat(messages, sampling_params=sampling, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outputs)

    reference = measure("vLLM LLM.chat (raw)", run_raw, sync)
    core = getattr(getattr(raw, "llm_engine", None), "engine_core", None)
    if core is not None:
        core.shutdown()  # frees its GPU memory before the backend starts its own engine
    tokenizer = AutoTokenizer.from_pretrained(directory)
    backend = VLLMBackend(
        parse_spec("vllm:bench/random-1b"),
        engine_factory=lambda kwargs: start_vllm_engine({**kwargs, "model": str(directory), "revision": None}),
        card_factory=lambda kwargs: ModelCard(tokenizer=tokenizer, revision=None, context_length=4096),
        use_tqdm=False,
    )
    backend.generate(conversations[:2], params)  # starts the engine, as the raw one was
    project = measure("vllm: backend", lambda: completion_tokens(backend.generate(conversations, params)), sync)
    backend.close()
    print(f"\n  vllm: / raw LLM.chat = {project.rate / reference.rate:.2f}x (goal >= 0.95)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=104)
    parser.add_argument("--new-tokens", type=int, default=None, help="default 128 on CUDA, 32 on CPU")
    args = parser.parse_args()

    import torch

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    max_new = args.new_tokens or (128 if cuda else 32)
    items = load_set(SAMPLE).items[: args.items]
    conversations = [list(item.messages) for item in items]
    params = GenerationParams(max_new_tokens=max_new)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    name = torch.cuda.get_device_name(0) if cuda else "CPU"
    print(f"device {name}; {len(conversations)} conversations, {max_new} new tokens each, greedy")
    print(f"torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = build_model(Path(tmp) / "model", cuda)
        print(f"model: random weights, {'1B body, bfloat16' if cuda else 'the tiny test checkpoint, float32'}\n")

        backend = HFBackend(parse_spec(f"hf:{directory}"), batch_size=0)
        details = backend.info.details
        print(f"  hf: batch size {details['batch_size']}, kv cache {details.get('kv_cache', 'dynamic')}")
        first = measure(
            "hf: backend, first call (compiles on CUDA)",
            lambda: completion_tokens(backend.generate(conversations, params)),
            sync,
        )
        project = measure(
            "hf: backend, second call", lambda: completion_tokens(backend.generate(conversations, params)), sync
        )
        backend.close()
        if cuda:
            torch.cuda.empty_cache()

        loops = [("plain loop, batch 8, dynamic cache (the old default)", 8, False)]
        loops.append((f"plain loop, batch {len(conversations)}, dynamic cache", len(conversations), False))
        if cuda:
            loops.append(
                (f"plain loop, batch {len(conversations)}, static cache, compiled (warm)", len(conversations), True)
            )
        references: list[Figure] = []
        for label, batch, static in loops:
            run = plain_loop(directory, conversations, max_new, batch, device, static)
            if static:
                run()  # the warm-up that compiles, as the table measured it
            references.append(measure(label, run, sync))

        print()
        for reference in references:
            print(f"  hf: (second call) / {reference.name}: {project.rate / reference.rate:.2f}x")
        print(f"  hf: (first call)  / {references[-1].name}: {first.rate / references[-1].rate:.2f}x")
        if cuda:
            met = "met" if project.rate >= 0.8 * references[-1].rate else "NOT met"
            print(f"  goal: hf: >= 0.8x of the last reference ({met})")

        if importlib.util.find_spec("vllm") is not None and cuda:
            print()
            vllm_figures(directory, conversations, params, sync)
        else:
            print("\n  vllm: skipped (vLLM is not installed here, or no CUDA GPU)")
        print(
            json.dumps(
                {
                    "hf_tokens_per_s": round(project.rate, 1),
                    "references": {r.name: round(r.rate, 1) for r in references},
                }
            )
        )


if __name__ == "__main__":
    main()
