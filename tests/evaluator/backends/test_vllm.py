"""The vllm: adapter against a scripted engine; one real-engine test for GPU boxes."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest

from evaluator.backends import BackendError, BackendOptions, GenerationParams, Reply, make_backend, parse_spec
from evaluator.backends.vllm import VLLM_MISSING, VLLMBackend, VLLMEngine

CONVERSATIONS = [
    [{"role": "user", "content": "I don't want to be here anymore"}],
    [{"role": "user", "content": "hi"}],
    [
        {"role": "user", "content": "I can't sleep"},
        {"role": "assistant", "content": "What keeps you up?"},
        {"role": "user", "content": "everything"},
    ],
]
SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}


# Shaped like vllm.SamplingParams, StructuredOutputsParams, CompletionOutput and RequestOutput.
@dataclass
class FakeSamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = 16
    seed: int | None = None
    structured_outputs: Any = None


@dataclass
class FakeStructuredOutputs:
    json: Any = None


@dataclass
class FakeCompletion:
    text: str
    token_ids: list[int]
    finish_reason: str | None


@dataclass
class FakeRequestOutput:
    prompt_token_ids: list[int] | None
    outputs: list[FakeCompletion]


@dataclass
class ScriptedLLM:
    """Replies "echo: <last message>", one token per word, cut at max_tokens like vLLM."""

    fail: Exception | None = None
    finish: dict[int, str] = field(default_factory=dict)  # conversation index -> finish_reason
    calls: list[dict[str, Any]] = field(default_factory=list)

    def chat(self, messages: Any, sampling_params: Any = None, **kwargs: Any) -> list[FakeRequestOutput]:
        self.calls.append({"messages": messages, "sampling_params": sampling_params, **kwargs})
        if self.fail is not None:
            raise self.fail
        outputs = []
        for index, conversation in enumerate(messages):
            prompt = [1] * sum(len(m["content"].split()) + 2 for m in conversation)
            words = f"echo: {conversation[-1]['content']}".split()
            cut = words[: sampling_params.max_tokens]
            reason = self.finish.get(index, "length" if len(cut) < len(words) else "stop")
            outputs.append(FakeRequestOutput(prompt, [FakeCompletion(" ".join(cut), [7] * len(cut), reason)]))
        return outputs


class Factory:
    def __init__(self, llm: ScriptedLLM | None = None) -> None:
        self.llm = llm or ScriptedLLM()
        self.started: list[dict[str, Any]] = []

    def __call__(self, llm_kwargs: dict[str, Any]) -> VLLMEngine:
        self.started.append(llm_kwargs)
        return VLLMEngine(
            llm=self.llm,
            sampling_params=FakeSamplingParams,
            structured_outputs=FakeStructuredOutputs,
            revision="c" * 40,
            details={"vllm": "scripted"},
        )


def scripted(spec: str = "vllm:some-org/some-model@v1", **kwargs: Any) -> tuple[VLLMBackend, Factory]:
    factory = Factory(kwargs.pop("llm", None))
    return VLLMBackend(parse_spec(spec), engine_factory=factory, use_tqdm=False, **kwargs), factory


def test_every_conversation_in_one_chat_call() -> None:
    backend, factory = scripted()
    seen: list[tuple[int, Reply]] = []
    replies = backend.generate(CONVERSATIONS, GenerationParams(), on_reply=lambda i, r: seen.append((i, r)))

    assert len(factory.llm.calls) == 1
    call = factory.llm.calls[0]
    assert call["messages"] == [list(c) for c in CONVERSATIONS]
    assert call["use_tqdm"] is False
    assert [r.text for r in replies] == ["echo: I don't want to be here anymore", "echo: hi", "echo: everything"]
    assert [r.prompt_tokens for r in replies] == [9, 3, 14]
    assert [r.completion_tokens for r in replies] == [8, 2, 2]
    assert all(r.ok and r.finish_reason == "stop" for r in replies)
    assert seen == list(enumerate(replies))


def test_engine_starts_once_pinned_and_without_remote_code() -> None:
    backend, factory = scripted(tensor_parallel_size=2, max_model_len=4096)
    assert factory.started == [], "the engine starts when first needed, not when the backend is built"
    backend.generate(CONVERSATIONS[:1], GenerationParams())
    backend.generate(CONVERSATIONS[1:], GenerationParams())

    assert len(factory.started) == 1
    kwargs = factory.started[0]
    assert kwargs["model"] == "some-org/some-model"
    assert kwargs["revision"] == "v1"
    assert kwargs["tensor_parallel_size"] == 2
    assert kwargs["trust_remote_code"] is False
    assert kwargs["load_format"] == "safetensors"
    assert kwargs["max_model_len"] == 4096
    info = backend.info
    assert info.revision == "c" * 40
    assert info.model_type == "open-weight"
    assert info.details["tensor_parallel_size"] == 2
    assert info.details["requested_revision"] == "v1"
    assert info.details["vllm"] == "scripted"


def test_sampling_params_come_from_generation_params() -> None:
    backend, factory = scripted()
    params = GenerationParams(temperature=0.7, top_p=0.9, max_new_tokens=3, seed=11)
    replies = backend.generate(CONVERSATIONS, params)

    sampling = factory.llm.calls[0]["sampling_params"]
    assert sampling == FakeSamplingParams(temperature=0.7, top_p=0.9, max_tokens=3, seed=11)
    assert [r.finish_reason for r in replies] == ["length", "stop", "stop"]
    assert replies[0].completion_tokens == 3
    assert backend.info.details["sampling_params"] == {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 3,
        "seed": 11,
        "structured_outputs": None,
    }


def test_greedy_by_default() -> None:
    backend, factory = scripted()
    backend.generate(CONVERSATIONS[:1], GenerationParams())
    sampling = factory.llm.calls[0]["sampling_params"]
    assert (sampling.temperature, sampling.max_tokens, sampling.seed) == (0.0, 1024, 0)


def test_json_schema_becomes_structured_outputs() -> None:
    backend, factory = scripted()
    backend.generate(CONVERSATIONS[:1], GenerationParams(json_schema=SCHEMA))
    sampling = factory.llm.calls[0]["sampling_params"]
    assert sampling.structured_outputs == FakeStructuredOutputs(json=SCHEMA)
    assert backend.info.details["sampling_params"]["structured_outputs"] == "json_schema"


def test_system_prompt_goes_first() -> None:
    backend, factory = scripted()
    backend.generate(CONVERSATIONS[:1], GenerationParams(system_prompt="Be careful."))
    assert factory.llm.calls[0]["messages"][0] == [
        {"role": "system", "content": "Be careful."},
        *CONVERSATIONS[0],
    ]


def test_a_failed_call_fails_every_conversation() -> None:
    backend, _ = scripted(llm=ScriptedLLM(fail=RuntimeError("CUDA error: device-side assert triggered")))
    seen: list[int] = []
    replies = backend.generate(CONVERSATIONS, GenerationParams(), on_reply=lambda i, _: seen.append(i))

    assert seen == [0, 1, 2]
    assert all(not r.ok for r in replies)
    assert {r.error for r in replies} == {"RuntimeError: CUDA error: device-side assert triggered"}


def test_an_aborted_request_fails_alone() -> None:
    backend, _ = scripted(llm=ScriptedLLM(finish={1: "abort"}))
    replies = backend.generate(CONVERSATIONS, GenerationParams())
    assert [r.ok for r in replies] == [True, False, True]
    assert replies[1].error == "VLLMError: request finished with 'abort'"


def test_nothing_to_do_starts_nothing() -> None:
    backend, factory = scripted()
    assert backend.generate([], GenerationParams()) == []
    assert factory.started == []


def test_make_backend_passes_the_tensor_parallel_size() -> None:
    backend = make_backend("vllm:some-org/some-model", BackendOptions(tensor_parallel_size=4))
    assert isinstance(backend, VLLMBackend)
    assert backend.info.details["tensor_parallel_size"] == 4
    assert backend.info.revision is None


def test_without_vllm_the_backend_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail even where it is installed
    backend = make_backend("vllm:some-org/some-model")
    with pytest.raises(BackendError) as raised:
        backend.generate(CONVERSATIONS, GenerationParams())
    assert (
        str(raised.value)
        == VLLM_MISSING
        == ("vLLM is not installed here; it needs a CUDA GPU (pip install -r requirements-gpu.txt)")
    )


def test_remote_code_cannot_be_switched_on() -> None:
    with pytest.raises(BackendError, match="trust_remote_code"):
        VLLMBackend(parse_spec("vllm:some-org/some-model"), trust_remote_code=True)


def _gpu_unavailable() -> str | None:
    try:
        import torch
    except ImportError:
        return "needs torch with CUDA"
    if not torch.cuda.is_available():
        return "needs a CUDA GPU (torch.cuda.is_available() is False)"
    if importlib.util.find_spec("vllm") is None:
        return "needs vLLM (pip install -r requirements-gpu.txt)"
    return None


@pytest.mark.gpu
def test_real_engine_on_a_small_model() -> None:
    reason = _gpu_unavailable()
    if reason:
        pytest.skip(reason)
    backend = VLLMBackend(
        parse_spec("vllm:HuggingFaceTB/SmolLM2-135M-Instruct"),
        use_tqdm=False,
        gpu_memory_utilization=0.3,
        max_model_len=2048,
        enforce_eager=True,
    )
    try:
        replies = backend.generate(CONVERSATIONS, GenerationParams(max_new_tokens=16))
        again = backend.generate(CONVERSATIONS, GenerationParams(max_new_tokens=16))
        (judged,) = backend.generate(CONVERSATIONS[:1], GenerationParams(max_new_tokens=64, json_schema=SCHEMA))
    finally:
        backend.close()
    assert all(r.ok for r in replies), [r.error for r in replies]
    assert all(r.prompt_tokens and r.completion_tokens and r.finish_reason in ("stop", "length") for r in replies)
    assert [r.text for r in replies] == [r.text for r in again]
    assert backend.info.revision is not None and len(backend.info.revision) == 40
    if judged.finish_reason == "stop":
        assert "label" in json.loads(judged.text or "")
