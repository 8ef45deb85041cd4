"""The vllm: adapter against a scripted engine; one real-engine test for GPU boxes."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from evaluator.backends import BackendError, BackendOptions, GenerationParams, Reply, make_backend, parse_spec
from evaluator.backends.vllm import (
    DEFAULT_MAX_MODEL_LEN,
    VLLM_MISSING,
    ModelCard,
    VLLMBackend,
    VLLMEngine,
    engine_model_len,
)

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


def prompt_length(conversation: Any) -> int:
    """The scripted model's chat template: each word a token, two more per message."""
    return sum(len(m["content"].split()) + 2 for m in conversation)


class FakeTokenizer:
    """The scripted model's tokenizer, as transformers' apply_chat_template answers."""

    def apply_chat_template(self, messages: Any, **kwargs: Any) -> dict[str, list[int]]:
        assert kwargs.get("add_generation_prompt") and kwargs.get("tokenize")
        return {"input_ids": [1] * prompt_length(messages)}


class InvalidRequest(ValueError):
    """Stands in for vLLM's VLLMValidationError (a ValueError)."""


@dataclass
class FakeGPU:
    """One GPU's memory as vLLM sees it at start-up: each engine takes gpu_memory_utilization of
    the total until it is shut down, and start-up fails when less than that is free."""

    total_gib: float = 24.0
    held: dict[int, float] = field(default_factory=dict)

    def start(self, engine_id: int, utilization: float) -> None:
        free = self.total_gib - sum(self.held.values())
        want = utilization * self.total_gib
        if free < want:
            raise ValueError(
                f"Free memory on device cuda:0 ({free:.2f}/{self.total_gib:.2f} GiB) on startup is less than "
                f"desired GPU memory utilization ({utilization}, {want:.2f} GiB)"
            )
        self.held[engine_id] = want

    def stop(self, engine_id: int) -> None:
        self.held.pop(engine_id, None)


@dataclass
class ScriptedLLM:
    """Replies "echo: <last message>", one token per word, cut at max_tokens like vLLM.

    Behaves as vLLM 0.33's LLM.chat does with requests it refuses: each request is validated as
    it is added (a prompt at or over max_model_len, or one containing `refuse`), and the first
    refusal aborts everything added so far and raises: no request of the call gets an output.
    A reply that would run past max_model_len stops there with finish_reason "length".
    """

    fail: Exception | None = None
    finish: dict[int, str] = field(default_factory=dict)  # conversation index -> finish_reason
    calls: list[dict[str, Any]] = field(default_factory=list)
    max_model_len: int | None = None
    refuse: str | None = None  # a word whose requests vLLM refuses (say, an out-of-vocabulary token)
    aborted: list[int] = field(default_factory=list)  # requests added, then aborted with their call

    def chat(self, messages: Any, sampling_params: Any = None, **kwargs: Any) -> list[FakeRequestOutput]:
        self.calls.append({"messages": messages, "sampling_params": sampling_params, **kwargs})
        if self.fail is not None:
            raise self.fail
        for added, conversation in enumerate(messages):
            length = prompt_length(conversation)
            if self.max_model_len is not None and length >= self.max_model_len:
                self.aborted.append(added)
                raise InvalidRequest(
                    f"The decoder prompt (length {length}) is longer than the maximum model length of "
                    f"{self.max_model_len}."
                )
            if self.refuse and self.refuse in conversation[-1]["content"]:
                self.aborted.append(added)
                raise InvalidRequest("Token id 99999 is out of vocabulary")
        outputs = []
        for index, conversation in enumerate(messages):
            prompt = [1] * prompt_length(conversation)
            words = f"echo: {conversation[-1]['content']}".split()
            budget = sampling_params.max_tokens
            if self.max_model_len is not None:
                budget = min(budget, self.max_model_len - len(prompt))
            cut = words[:budget]
            reason = self.finish.get(index, "length" if len(cut) < len(words) else "stop")
            outputs.append(FakeRequestOutput(prompt, [FakeCompletion(" ".join(cut), [7] * len(cut), reason)]))
        return outputs


class Factory:
    def __init__(self, llm: ScriptedLLM | None = None, gpu: FakeGPU | None = None) -> None:
        self.llm = llm or ScriptedLLM()
        self.gpu = gpu
        self.started: list[dict[str, Any]] = []
        self.stopped = 0
        self.cards = 0

    def card(self, llm_kwargs: dict[str, Any]) -> ModelCard:
        self.cards += 1
        return ModelCard(tokenizer=FakeTokenizer(), revision="c" * 40, context_length=32768)

    def __call__(self, llm_kwargs: dict[str, Any]) -> VLLMEngine:
        engine_id = id(self) * 1000 + len(self.started)
        if self.gpu is not None:
            self.gpu.start(engine_id, llm_kwargs.get("gpu_memory_utilization", 0.92))
        self.started.append(llm_kwargs)
        self.llm.max_model_len = llm_kwargs.get("max_model_len")

        def shutdown() -> None:
            self.stopped += 1
            if self.gpu is not None:
                self.gpu.stop(engine_id)

        return VLLMEngine(
            llm=self.llm,
            sampling_params=FakeSamplingParams,
            structured_outputs=FakeStructuredOutputs,
            revision=llm_kwargs.get("revision"),
            details={"vllm": "scripted"},
            shutdown=shutdown,
        )


def scripted(spec: str = "vllm:some-org/some-model@v1", **kwargs: Any) -> tuple[VLLMBackend, Factory]:
    factory = Factory(kwargs.pop("llm", None), kwargs.pop("gpu", None))
    backend = VLLMBackend(parse_spec(spec), engine_factory=factory, card_factory=factory.card, use_tqdm=False, **kwargs)
    return backend, factory


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
    assert kwargs["revision"] == kwargs["tokenizer_revision"] == "c" * 40, "the commit v1 resolved to"
    assert kwargs["generation_config"] == "vllm"
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


def test_max_model_len_is_sized_from_the_longest_prompt() -> None:
    """vLLM without max_model_len takes the model's whole context (here 32768); the engine gets
    room for the longest prompt plus max_new_tokens, at least the default, never over the context."""
    backend, factory = scripted()
    backend.generate(CONVERSATIONS, GenerationParams(max_new_tokens=64))
    assert factory.started[0]["max_model_len"] == DEFAULT_MAX_MODEL_LEN
    assert backend.info.details["engine_kwargs"]["max_model_len"] == DEFAULT_MAX_MODEL_LEN

    long = [{"role": "user", "content": " ".join(["word"] * 9000)}]
    backend, factory = scripted()
    replies = backend.generate([long, CONVERSATIONS[1]], GenerationParams(max_new_tokens=1024))
    length = factory.started[0]["max_model_len"]
    assert 9002 + 1024 < length <= 32768 and length % 256 == 0
    assert all(r.ok for r in replies), [r.error for r in replies]
    assert engine_model_len(40_000, 1024, 32768) == 32768
    assert engine_model_len(10, 1024, None) == DEFAULT_MAX_MODEL_LEN


def test_a_prompt_too_long_fails_alone_with_its_reason() -> None:
    """vLLM refuses a prompt at or over max_model_len and aborts the whole chat call with it: the
    adapter measures prompts first, so only that conversation fails, and says why."""
    backend, factory = scripted(max_model_len=64)
    too_long = [{"role": "user", "content": " ".join(["word"] * 70)}]
    at_limit = [{"role": "user", "content": " ".join(["word"] * 62)}]  # 62 words + 2 = 64 tokens
    replies = backend.generate([CONVERSATIONS[0], too_long, at_limit, CONVERSATIONS[1]], GenerationParams())
    assert [r.ok for r in replies] == [True, False, False, True]
    assert replies[1].error == (
        "PromptTooLong: the conversation is 72 tokens, at or over this engine's max_model_len of 64"
    )
    assert "64 tokens" in (replies[2].error or "")
    assert factory.llm.aborted == [], "nothing the engine would refuse was sent"
    assert len(factory.llm.calls) == 1


def test_a_refused_request_fails_alone_and_the_rest_are_answered() -> None:
    """A refusal the adapter cannot foresee still aborts vLLM's whole call: retried in halves,
    only the culprits fail."""
    backend, factory = scripted(llm=ScriptedLLM(refuse="poison"))
    conversations = [[{"role": "user", "content": f"message {n}"}] for n in range(8)]
    conversations[2] = [{"role": "user", "content": "poison here"}]
    conversations[7] = [{"role": "user", "content": "more poison"}]
    seen: list[int] = []
    replies = backend.generate(conversations, GenerationParams(), on_reply=lambda i, _: seen.append(i))

    assert [r.ok for r in replies] == [True, True, False, True, True, True, True, False]
    assert replies[2].error == replies[7].error == "InvalidRequest: Token id 99999 is out of vocabulary"
    assert [r.text for r in replies if r.ok] == [f"echo: message {n}" for n in (0, 1, 3, 4, 5, 6)]
    assert sorted(seen) == list(range(8))
    assert len(factory.llm.calls) <= 1 + 2 * 2 * 3, "halving, not one call per conversation from the start"


def test_a_second_engine_in_the_process_frees_the_first() -> None:
    """Model and judge both vllm: on one GPU. Each engine holds 92% of the memory until freed; the
    judge's engine starting frees the model's (its stage is over), and the model's starts again
    if it is asked for more."""
    gpu = FakeGPU()
    model, model_factory = scripted("vllm:org/model", gpu=gpu)
    judge, judge_factory = scripted("vllm:org/judge", gpu=gpu)
    assert all(r.ok for r in model.generate(CONVERSATIONS, GenerationParams()))
    assert len(gpu.held) == 1

    verdicts = judge.generate(CONVERSATIONS[:1], GenerationParams(json_schema=SCHEMA))
    assert all(r.ok for r in verdicts), [r.error for r in verdicts]
    assert model_factory.stopped == 1 and len(gpu.held) == 1

    again = model.generate(CONVERSATIONS[:1], GenerationParams())
    assert again[0].ok and len(model_factory.started) == 2 and judge_factory.stopped == 1
    assert model_factory.cards == 1, "the model is vetted once, however often its engine starts"
    model.close()
    judge.close()
    assert gpu.held == {}


def test_offline_and_served_vllm_get_the_same_explicit_sampling(openai_server: Any) -> None:
    """The openai: backend (say, against `vllm serve`) and the offline engine send the same four
    explicit sampling parameters; the offline engine ignores the checkpoint's generation_config,
    as `vllm serve --generation-config vllm` does (docs/deploy.md)."""
    params = GenerationParams(temperature=0.6, top_p=0.8, max_new_tokens=33, seed=5)
    backend, factory = scripted()
    backend.generate(CONVERSATIONS[:1], params)
    offline = factory.llm.calls[0]["sampling_params"]
    served = make_backend("openai:served-model", BackendOptions(base_url=openai_server.url, api_key_env="NO_SUCH_KEY"))
    try:
        served.generate(CONVERSATIONS[:1], params)
    finally:
        served.close()
    body = openai_server.requests[0].body
    for name in ("temperature", "top_p", "max_tokens", "seed"):
        assert body[name] == getattr(offline, name), name
    assert factory.started[0]["generation_config"] == "vllm"
    deploy = (Path(__file__).resolve().parents[3] / "docs" / "deploy.md").read_text()
    assert "--generation-config vllm" in deploy


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
