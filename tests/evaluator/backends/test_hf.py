"""The hf: backend end to end on a real tiny checkpoint, offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from evaluator.backends import BackendError, BackendOptions, GenerationParams, Reply, make_backend
from evaluator.backends.hf import HFBackend
from tests.support.conversations import CONVERSATIONS

GREEDY = GenerationParams(max_new_tokens=4)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # Belt and braces: huggingface_hub reads the variable once at import, so set its constant too.
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def backend(tiny_checkpoint: Path) -> Iterator[HFBackend]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        built = make_backend(f"hf:{tiny_checkpoint}", BackendOptions(batch_size=2))
    assert isinstance(built, HFBackend)
    yield built
    built.close()


@pytest.fixture(scope="module")
def tokenizer(tiny_checkpoint: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_checkpoint)


def templated_length(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True)["input_ids"])


def test_replies_in_order_with_token_counts_from_the_chat_template(backend: HFBackend, tokenizer: Any) -> None:
    replies = backend.generate(CONVERSATIONS, GREEDY)

    assert len(replies) == len(CONVERSATIONS)
    for conversation, reply in zip(CONVERSATIONS, replies, strict=True):
        assert reply.ok, reply.error
        assert isinstance(reply.text, str)
        # Distinct prompt lengths, so a reply in the wrong slot would show here.
        assert reply.prompt_tokens == templated_length(tokenizer, conversation)
        assert reply.completion_tokens == 4
        assert reply.finish_reason == "length"
        assert reply.latency_s > 0
    raw = len(tokenizer(CONVERSATIONS[1][0]["content"])["input_ids"])
    assert replies[1].prompt_tokens is not None and replies[1].prompt_tokens > raw


def test_same_input_same_output(backend: HFBackend) -> None:
    first = backend.generate(CONVERSATIONS, GREEDY)
    second = backend.generate(CONVERSATIONS, GREEDY)
    assert [(r.text, r.completion_tokens) for r in first] == [(r.text, r.completion_tokens) for r in second]


def test_on_reply_once_per_item(backend: HFBackend) -> None:
    seen: list[tuple[int, Reply]] = []
    replies = backend.generate(CONVERSATIONS, GREEDY, on_reply=lambda i, r: seen.append((i, r)))
    assert sorted(i for i, _ in seen) == [0, 1, 2]
    assert {i: r for i, r in seen} == dict(enumerate(replies))


def test_system_prompt_is_rendered_by_the_template(backend: HFBackend, tokenizer: Any) -> None:
    params = GenerationParams(max_new_tokens=2, system_prompt="You are a careful, kind listener.")
    (reply,) = backend.generate(CONVERSATIONS[:1], params)
    with_system = [{"role": "system", "content": params.system_prompt or ""}, *CONVERSATIONS[0]]
    assert reply.prompt_tokens == templated_length(tokenizer, with_system)
    assert reply.prompt_tokens is not None and reply.prompt_tokens > templated_length(tokenizer, CONVERSATIONS[0])


def test_sampling_is_seeded(backend: HFBackend) -> None:
    params = GenerationParams(max_new_tokens=4, temperature=0.9, seed=7)
    first = backend.generate(CONVERSATIONS, params)
    again = backend.generate(CONVERSATIONS, params)
    assert all(r.ok for r in first)
    assert [r.text for r in first] == [r.text for r in again]


def test_a_bad_conversation_fails_alone(backend: HFBackend) -> None:
    conversations = [
        CONVERSATIONS[0],
        [{"role": "tool", "content": "the template refuses this role"}],
        [{"role": "user", "content": "far too long " * 200}],
        CONVERSATIONS[1],
    ]
    seen: list[int] = []
    replies = backend.generate(conversations, GREEDY, on_reply=lambda i, _: seen.append(i))

    assert [r.ok for r in replies] == [True, False, False, True]
    assert replies[1].error is not None and "unsupported role: tool" in replies[1].error
    assert replies[2].error is not None and "over the model's context of 256" in replies[2].error
    assert sorted(seen) == [0, 1, 2, 3]


def test_a_failing_batch_is_retried_one_by_one(
    backend: HFBackend, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_generate = backend._model.generate
    lengths = [templated_length(tokenizer, c) for c in CONVERSATIONS]
    failed = lengths.index(max(lengths))

    def flaky(**kwargs: Any) -> Any:
        # The longest prompt "cannot run" (as if out of memory), so neither can its batch.
        if int(kwargs["attention_mask"].sum(dim=1).max()) >= max(lengths):
            raise RuntimeError("simulated out of memory")
        return real_generate(**kwargs)

    monkeypatch.setattr(backend._model, "generate", flaky)
    replies = backend.generate(CONVERSATIONS, GREEDY)

    assert replies[failed].error == "RuntimeError: simulated out of memory"
    assert replies[failed].attempts == 2
    assert all(r.ok and r.completion_tokens == 4 for i, r in enumerate(replies) if i != failed)
    # batch_size=2, longest first: the longest prompt's batch mate was retried alone and survived.
    assert sorted(r.attempts for r in replies) == [1, 2, 2]


def test_budget_shrinks_at_the_end_of_the_context(backend: HFBackend, tokenizer: Any) -> None:
    words: list[str] = []
    while templated_length(tokenizer, [{"role": "user", "content": " ".join(words)}]) < 252:
        words.append("alone")
    conversation = [{"role": "user", "content": " ".join(words)}]
    prompt = templated_length(tokenizer, conversation)
    assert prompt < 256

    (reply,) = backend.generate([conversation], GenerationParams(max_new_tokens=8))
    assert reply.ok, reply.error
    assert reply.completion_tokens == 256 - prompt
    assert reply.finish_reason == "length"


def test_stops_at_an_end_token_from_the_generation_config(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # Declare the token the model greedily says first as an end-of-turn token, as chat models
    # do for tokens such as <|eot_id|>: the reply must stop right there.
    tokenizer = AutoTokenizer.from_pretrained(tiny_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint)
    ids: Any = tokenizer.apply_chat_template(CONVERSATIONS[0], add_generation_prompt=True, return_tensors="pt")
    with torch.inference_mode():
        first = int(model(**ids).logits[0, -1].argmax())
    copy = shutil.copytree(tiny_checkpoint, tmp_path / "model")
    config_path = copy / "generation_config.json"
    config = json.loads(config_path.read_text())
    config["eos_token_id"] = [tokenizer.eos_token_id, first]
    config_path.write_text(json.dumps(config))

    backend = make_backend(f"hf:{copy}")
    try:
        (reply,) = backend.generate(CONVERSATIONS[:1], GREEDY)
    finally:
        backend.close()
    assert reply.finish_reason == "stop"
    assert reply.completion_tokens == 1
    assert first in backend.info.details["eos_token_ids"]


def test_info_records_the_model(backend: HFBackend, tiny_checkpoint: Path) -> None:
    info = backend.info
    assert info.spec == f"hf:{tiny_checkpoint}"
    assert info.model_type == "open-weight"
    assert info.revision is not None and info.revision.startswith("sha256:")
    assert info.details["dtype"] == "float32"
    assert info.details["device"] == "cpu"
    assert info.details["parameters"] > 100_000
    assert info.details["context_length"] == 256


def test_refuses_a_tokenizer_without_chat_template(tiny_checkpoint_no_template: Path) -> None:
    with pytest.raises(BackendError, match="has no chat template; submit a chat model whose tokenizer defines one"):
        make_backend(f"hf:{tiny_checkpoint_no_template}")


def test_refuses_pickled_weights(tiny_checkpoint: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    # transformers 5 always writes safetensors (safe_serialization is gone), so pickle by hand.
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for item in tiny_checkpoint.iterdir():
        if item.suffix != ".safetensors":
            shutil.copy(item, pickled / item.name)
    torch.save(load_file(tiny_checkpoint / "model.safetensors"), pickled / "pytorch_model.bin")

    with pytest.raises(BackendError, match="has no safetensors weights; only safetensors are accepted"):
        make_backend(f"hf:{pickled}")


@pytest.mark.timeout(30)
def test_offline_hub_model_fails_fast() -> None:
    with pytest.raises(BackendError, match=r"cannot reach the Hugging Face Hub to load some-org/some-model: "):
        make_backend("hf:some-org/some-model@main")


@pytest.mark.timeout(30)
def test_unreachable_hub_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)

    def no_network(self: Any, repo_id: str, **kwargs: Any) -> Any:
        raise ConnectionError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", no_network)
    expected = r"cannot reach the Hugging Face Hub to load some-org/some-model: .*name resolution"
    with pytest.raises(BackendError, match=expected):
        make_backend("hf:some-org/some-model")


def test_hub_model_without_safetensors_is_refused_before_download(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    files = ["config.json", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json"]
    info = SimpleNamespace(sha="a" * 40, siblings=[SimpleNamespace(rfilename=f) for f in files])
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", lambda self, repo_id, **kw: info)

    with pytest.raises(BackendError, match="some-org/pickled has no safetensors weights"):
        make_backend("hf:some-org/pickled")


def test_importing_the_backends_does_not_import_torch() -> None:
    code = (
        "import sys, evaluator.backends, evaluator.backends.hf, evaluator.backends.vllm; "
        "sys.exit(1 if {'torch', 'transformers', 'vllm'} & set(sys.modules) else 0)"
    )
    root = Path(__file__).resolve().parents[3]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


# ------------------------------------------------------------ the CUDA path (static KV cache)

MORE = [
    *CONVERSATIONS,
    [{"role": "user", "content": "Thank you for listening to me tonight. " * 6}],
    [{"role": "user", "content": "My friend said she wants to hurt herself and I don't know what to do."}],
]


def test_static_cache_path_gives_the_same_tokens_as_the_dynamic_path(tiny_checkpoint: Path) -> None:
    """The CUDA path (transformers' static KV cache, prompts padded to bucket widths, batches
    to a power of two of rows) run on CPU, where transformers allows it uncompiled: token for token
    what today's dynamic-cache path generates (greedy, PROTOCOL's setting; sampled tokens would
    differ only because the padded batch draws more random numbers)."""
    from evaluator.backends.spec import parse_spec

    spec = parse_spec(f"hf:{tiny_checkpoint}")
    dynamic = HFBackend(spec, batch_size=2)
    static = HFBackend(spec, batch_size=4, static_cache=True)
    try:
        assert static.info.details["kv_cache"] == "static" and "kv_cache" not in dynamic.info.details
        generate = static._model.generate
        shapes: list[tuple[str, int, int]] = []

        def spy(**kwargs: Any) -> Any:
            rows, width = kwargs["input_ids"].shape
            shapes.append((kwargs["generation_config"].cache_implementation, rows, width))
            return generate(**kwargs)

        static._model.generate = spy
        for params in (
            GenerationParams(max_new_tokens=10),
            GenerationParams(max_new_tokens=10, system_prompt="Be kind."),
        ):
            expected = dynamic.generate(MORE, params)
            got = static.generate(MORE, params)
            assert all(r.ok for r in got), [r.error for r in got]
            assert [(r.text, r.completion_tokens, r.finish_reason) for r in got] == [
                (r.text, r.completion_tokens, r.finish_reason) for r in expected
            ]
            assert [r.prompt_tokens for r in got] == [r.prompt_tokens for r in expected]
        # Near the end of the context the padded width is cut so the cache stays within it.
        near_end = [{"role": "user", "content": " ".join(["alone"] * 110)}]
        (expected_end,) = dynamic.generate([near_end], GenerationParams(max_new_tokens=40))
        (got_end,) = static.generate([near_end], GenerationParams(max_new_tokens=40))
        assert got_end.ok and expected_end.ok, (got_end.error, expected_end.error)
        assert (got_end.text, got_end.completion_tokens) == (expected_end.text, expected_end.completion_tokens)
        assert shapes[-1][2] + (got_end.completion_tokens or 0) <= 256
        # Every call on the static cache, in few shapes: bucket widths, batches of one size.
        assert {cache for cache, _, _ in shapes} == {"static"}
        assert {rows for _, rows, _ in shapes} <= {1, 2, 4} and max(rows for _, rows, _ in shapes) == 4
        assert {width for _, _, width in shapes[:-1]} <= {16, 32, 64, 128}
    finally:
        dynamic.close()
        static.close()


def test_bucket_widths_are_few() -> None:
    from evaluator.backends.hf import bucket_width

    assert [bucket_width(n) for n in (1, 16, 17, 100, 128, 129, 300)] == [16, 16, 32, 128, 128, 256, 384]
    assert len({bucket_width(n) for n in range(1, 1025)}) == 11


def test_auto_batch_halves_on_out_of_memory_and_remembers(
    tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--batch-size auto` on CUDA: a batch that runs out of memory is cut in half and the
    size that fit is kept for the next calls. CUDA's out-of-memory is played on CPU here."""
    import torch

    from evaluator.backends.spec import parse_spec

    backend = HFBackend(parse_spec(f"hf:{tiny_checkpoint}"), batch_size=0)
    assert backend.info.details["batch_size"] == 8, "auto is 8 on CPU"
    backend._auto = True
    monkeypatch.setattr(
        backend, "_size_batch", lambda longest, new: setattr(backend, "_batch_size", min(8, backend._fitted or 8))
    )
    real_run = backend._run
    sizes: list[int] = []

    def run(batch: Any, params: GenerationParams, *, attempts: int) -> Any:
        sizes.append(len(batch))
        if len(batch) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_run(batch, params, attempts=attempts)

    monkeypatch.setattr(backend, "_run", run)
    try:
        replies = backend.generate(MORE, GREEDY)
        assert all(r.ok for r in replies), [r.error for r in replies]
        assert sizes[:3] == [5, 4, 2] and max(sizes[2:]) == 2  # 8 -> 4 -> 2
        assert backend._fitted == 2
        sizes.clear()
        backend.generate(MORE, GREEDY)
        assert max(sizes) == 2, "what fit is remembered"
    finally:
        backend.close()


def test_batch_size_auto_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evaluator.cli import build_parser

    parser = build_parser()
    run = ["run", "--model", "baseline:refusal", "--set", "public-sample"]
    assert parser.parse_args(run).batch_size == 0
    assert parser.parse_args([*run, "--batch-size", "auto"]).batch_size == 0
    assert parser.parse_args([*run, "--batch-size", "16"]).batch_size == 16
    with pytest.raises(SystemExit):
        parser.parse_args([*run, "--batch-size", "0"])
    assert "expected a positive number or auto, got 0" in capsys.readouterr().err
