"""The `vllm:` backend: vLLM's offline engine, the whole item set in one batched chat call.

vLLM needs a CUDA GPU, so it is imported only when the engine is first needed, never when the
backend is built (the Space and CPU workers construct backends too). The engine is reached
through `VLLMEngine`, whose parts a test can script, so this adapter is tested without vLLM.

vLLM applies the model's own chat template (LLM.chat) and schedules the conversations itself,
so there is no batching here. Submissions meet the same rules as with the hf: backend: the
revision is pinned to a commit, weights must be safetensors, the tokenizer must have a chat
template, and no custom modelling code runs.

What vLLM 0.33 does that this adapter plans for (read in its source):
- `LLM(...)` without `max_model_len` takes the model's whole context, and start-up fails when
  one sequence of that length does not fit the KV cache: the engine is started with room for
  the longest prompt it is given plus `max_new_tokens` (at least DEFAULT_MAX_MODEL_LEN).
- `LLM.chat` validates each request as it adds it (a prompt at or over `max_model_len` is
  refused) and on the first failure aborts every request already added and raises: prompts
  are measured with the model's tokenizer first (one too long fails alone, with its reason),
  and a call that still raises is retried in halves, so only the culprits fail.
- An engine holds `gpu_memory_utilization` (0.92 by default) of its GPU until it is freed: a
  process runs one engine at a time, and starting one (the judge's) frees the other (the
  model's, whose stage is over; it starts again if asked for more).
- Offline, explicit SamplingParams are used as given; `vllm serve` fills what a request leaves
  unset from the model's generation_config unless started with `--generation-config vllm`. The
  engine here is started with the same setting, and sends the same four explicit parameters
  the openai: backend sends (sampling_options), so the two agree (docs/deploy.md).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from evaluator.backends.base import (
    BackendError,
    Conversation,
    GenerationParams,
    ModelInfo,
    OnReply,
    Reply,
    with_system_prompt,
)
from evaluator.backends.hf import NO_SAFETENSORS, has_safetensors, load_chat_tokenizer, resolve_hub_model
from evaluator.backends.spec import BackendSpec

VLLM_MISSING = "vLLM is not installed here; it needs a CUDA GPU (pip install -r requirements-gpu.txt)"
_FINISHED = ("stop", "length")
# The engine's context when the prompts need less: room for multi-turn conversations that grow
# after the engine started, at a KV cost (about 1 GiB per sequence for an 8B model) any GPU has.
DEFAULT_MAX_MODEL_LEN: Final = 8192
MODEL_LEN_MULTIPLE: Final = 256
# Chat templates as vLLM renders them may differ by a few tokens from the tokenizer's own.
PROMPT_MARGIN: Final = 16
log = logging.getLogger(__name__)


class ChatEngine(Protocol):
    def chat(self, messages: Any, sampling_params: Any = ..., **kwargs: Any) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True)
class VLLMEngine:
    """A started engine and the parameter classes it takes (vLLM's own, or a test's scripted ones)."""

    llm: ChatEngine
    sampling_params: Callable[..., Any]
    structured_outputs: Callable[..., Any] | None = None
    revision: str | None = None  # the commit the engine actually loaded
    details: Mapping[str, Any] = field(default_factory=dict)
    shutdown: Callable[[], None] | None = None  # frees the engine's GPU memory now


@dataclass(frozen=True, slots=True)
class ModelCard:
    """What is known of a model before its engine starts: its tokenizer (to measure prompts),
    the commit it resolved to, and its own context length (None: unknown)."""

    tokenizer: Any
    revision: str | None
    context_length: int | None = None


# Called once per start, with the keyword arguments for vllm.LLM.
EngineFactory = Callable[[dict[str, Any]], VLLMEngine]
# Called once, with the same arguments before the engine's own are decided.
CardFactory = Callable[[dict[str, Any]], ModelCard]


def vet_vllm_model(llm_kwargs: dict[str, Any]) -> ModelCard:
    """The submission's rules, checked with the tokenizer alone before vLLM spends minutes loading
    weights onto GPUs: pinned commit, safetensors, a chat template, and its context length."""
    try:
        import vllm  # noqa: F401 - before any Hub request: without vLLM nothing here can run
    except ImportError:
        raise BackendError(VLLM_MISSING) from None
    repo_id = str(llm_kwargs["model"])
    hub = resolve_hub_model(repo_id, llm_kwargs.get("revision"))
    if not has_safetensors(hub.files):
        raise BackendError(f"{repo_id} {NO_SAFETENSORS}")
    tokenizer = load_chat_tokenizer(repo_id, hub.sha, name=repo_id, remote=True)
    context: int | None = None
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(repo_id, revision=hub.sha, trust_remote_code=False)
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        value = getattr(text, "max_position_embeddings", None)
        context = value if isinstance(value, int) and value > 0 else None
    except Exception as exc:  # vLLM reads the config itself and says what is wrong with it
        log.warning("context length of %s unknown: %s", repo_id, type(exc).__name__)
    return ModelCard(tokenizer=tokenizer, revision=hub.sha, context_length=context)


def start_vllm_engine(llm_kwargs: dict[str, Any]) -> VLLMEngine:
    """The real engine: import vLLM and start vllm.LLM on the commit the card pinned."""
    try:
        from vllm import LLM, SamplingParams
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError:
        raise BackendError(VLLM_MISSING) from None

    repo_id = str(llm_kwargs["model"])
    try:
        llm = LLM(**llm_kwargs)
    except Exception as exc:
        raise BackendError(f"vLLM could not start {repo_id}: {' '.join(str(exc).split())[:300]}") from None
    try:
        from importlib.metadata import version

        vllm_version = version("vllm")
    except Exception:
        vllm_version = "unknown"
    return VLLMEngine(
        llm=llm,
        sampling_params=SamplingParams,
        structured_outputs=StructuredOutputsParams,
        revision=llm_kwargs.get("revision"),
        details={"vllm": vllm_version},
        shutdown=_engine_shutdown(llm),
    )


def _engine_shutdown(llm: Any) -> Callable[[], None]:
    """Stop an LLM's engine core (vLLM 0.33 runs it in its own process, holding the GPU memory)."""
    ref = weakref.ref(llm)

    def shutdown() -> None:
        engine = ref()
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()

    return shutdown


def sampling_options(params: GenerationParams) -> dict[str, Any]:
    """The sampling parameters every request carries explicitly, offline or through `vllm serve`
    (the openai: backend sends these same four): nothing is left for an engine to default."""
    return {
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_new_tokens,
        "seed": params.seed,
    }


def engine_model_len(longest_prompt: int, max_new_tokens: int, context: int | None) -> int:
    """max_model_len for an engine whose longest prompt is `longest_prompt` tokens: room for it and
    `max_new_tokens` with a margin, rounded up, at least DEFAULT_MAX_MODEL_LEN, never over the
    model's own context."""
    need = longest_prompt + max_new_tokens + PROMPT_MARGIN
    length = max(DEFAULT_MAX_MODEL_LEN, math.ceil(need / MODEL_LEN_MULTIPLE) * MODEL_LEN_MULTIPLE)
    return min(length, context) if context else length


# Engines alive in this process, to free one before another starts (one GPU, stages in sequence).
_RUNNING: weakref.WeakSet[VLLMBackend] = weakref.WeakSet()


class VLLMBackend:
    def __init__(
        self,
        spec: BackendSpec,
        tensor_parallel_size: int = 1,
        engine_factory: EngineFactory | None = None,
        *,
        card_factory: CardFactory | None = None,
        use_tqdm: bool = True,
        **engine_kwargs: Any,
    ) -> None:
        if spec.kind != "vllm":
            raise BackendError(f"VLLMBackend runs vllm: specs, not {spec}")
        if tensor_parallel_size < 1:
            raise BackendError(f"tensor_parallel_size must be at least 1, got {tensor_parallel_size}")
        if engine_kwargs.get("trust_remote_code"):
            raise BackendError("trust_remote_code is never enabled: submissions may not run their own code")
        self._spec = spec
        self._tensor_parallel_size = tensor_parallel_size
        self._factory: EngineFactory = engine_factory or start_vllm_engine
        self._card_factory: CardFactory = card_factory or vet_vllm_model
        self._card: ModelCard | None = None
        self._use_tqdm = use_tqdm
        self._llm_kwargs: dict[str, Any] = {
            # vLLM refuses pickled checkpoints with this, whatever else the repository holds.
            "load_format": "safetensors",
            # As `vllm serve --generation-config vllm`: no sampling defaults from the checkpoint.
            "generation_config": "vllm",
            **engine_kwargs,
            "model": spec.target,
            "revision": spec.revision,
            "tensor_parallel_size": tensor_parallel_size,
            "trust_remote_code": False,
        }
        self._engine: VLLMEngine | None = None
        self._started_with: dict[str, Any] | None = None
        self._closed = False
        self._last_sampling: dict[str, Any] | None = None

    @property
    def info(self) -> ModelInfo:
        """What is known so far: the revision is the resolved commit once the engine has started."""
        started = self._started_with or self._llm_kwargs
        engine_kwargs = {
            k: _jsonable(v) for k, v in started.items() if k not in ("model", "revision", "tokenizer_revision")
        }
        details: dict[str, Any] = {
            "backend": "vllm",
            "requested_revision": self._spec.revision,
            "tensor_parallel_size": self._tensor_parallel_size,
            "engine_kwargs": engine_kwargs,
            "sampling_params": self._last_sampling,
        }
        revision = self._spec.revision
        if self._card is not None:
            revision = self._card.revision or revision
        if self._engine is not None:
            details.update(self._engine.details)
            revision = self._engine.revision or revision
        return ModelInfo(
            spec=str(self._spec), model=self._spec.target, revision=revision, model_type="open-weight", details=details
        )

    def card(self) -> ModelCard:
        """The model's tokenizer, pinned commit and context, vetted once (BackendError if refused)."""
        if self._closed:
            raise BackendError(f"{self._spec} is closed")
        if self._card is None:
            self._card = self._card_factory(dict(self._llm_kwargs))
        return self._card

    def load(self, longest_prompt: int = 0, max_new_tokens: int = 0) -> VLLMEngine:
        """Start the engine if it is not running yet, with room for `longest_prompt` tokens and
        `max_new_tokens` more (unless max_model_len was given); BackendError if it cannot start."""
        card = self.card()
        if self._engine is None:
            for other in list(_RUNNING):
                if other is not self:
                    other.release()
            kwargs = dict(self._llm_kwargs)
            if card.revision is not None:
                kwargs.update(revision=card.revision, tokenizer_revision=card.revision)
            if "max_model_len" not in kwargs:
                kwargs["max_model_len"] = engine_model_len(longest_prompt, max_new_tokens, card.context_length)
            self._engine = self._factory(kwargs)
            self._started_with = kwargs
            _RUNNING.add(self)
        return self._engine

    def release(self) -> None:
        """Free the engine and its GPU memory; the next generate() starts it again."""
        engine, self._engine = self._engine, None
        _RUNNING.discard(self)
        if engine is None:
            return
        log.info("freeing the vLLM engine of %s for another engine in this process", self._spec)
        if engine.shutdown is not None:
            try:
                engine.shutdown()
            except Exception as exc:
                log.warning("vLLM engine of %s did not shut down cleanly: %s", self._spec, exc)
        del engine
        _free_gpu_memory()

    @property
    def max_model_len(self) -> int | None:
        return None if self._started_with is None else self._started_with.get("max_model_len")

    def _sampling_params(self, engine: VLLMEngine, params: GenerationParams) -> Any:
        options: dict[str, Any] = sampling_options(params)
        recorded = dict(options, structured_outputs=None)
        if params.json_schema is not None:
            if engine.structured_outputs is None:
                raise BackendError("this vLLM engine takes no structured outputs")
            options["structured_outputs"] = engine.structured_outputs(json=dict(params.json_schema))
            recorded["structured_outputs"] = "json_schema"
        self._last_sampling = recorded
        return engine.sampling_params(**options)

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        if not conversations:
            return []
        card = self.card()
        messages = [with_system_prompt(conversation, params) for conversation in conversations]
        replies: list[Reply | None] = [None] * len(messages)
        lengths: dict[int, int] = {}
        for index, conversation in enumerate(messages):
            try:
                lengths[index] = _prompt_tokens(card.tokenizer, conversation)
            except Exception as exc:
                replies[index] = Reply.failed(exc)
        engine = self.load(max(lengths.values(), default=0), params.max_new_tokens)
        limit = self.max_model_len
        runnable: list[int] = []
        for index, length in lengths.items():
            if limit is not None and length >= limit:
                # vLLM refuses a prompt at or over max_model_len, and with it the whole call.
                replies[index] = Reply.failed(
                    f"PromptTooLong: the conversation is {length} tokens, at or over this engine's "
                    f"max_model_len of {limit}",
                    latency_s=0.0,
                )
            else:
                runnable.append(index)
        if runnable:
            sampling = self._sampling_params(engine, params)
            for index, reply in self._chat_in_halves(engine, runnable, messages, sampling):
                replies[index] = reply
        done = [r for r in replies if r is not None]
        if len(done) != len(replies):
            raise RuntimeError("internal error: a conversation got no reply")
        if on_reply:
            for index, reply in enumerate(done):
                on_reply(index, reply)
        return done

    def _chat_in_halves(
        self, engine: VLLMEngine, indexes: list[int], messages: list[list[dict[str, str]]], sampling: Any
    ) -> list[tuple[int, Reply]]:
        """One chat call for `indexes`; if vLLM raises (it aborts the whole call), each half again,
        down to the single conversations that fail on their own."""
        start = time.perf_counter()
        try:
            outputs = list(
                engine.llm.chat([messages[i] for i in indexes], sampling_params=sampling, use_tqdm=self._use_tqdm)
            )
            if len(outputs) != len(indexes):
                raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(indexes)} conversations")
        except Exception as exc:
            latency = (time.perf_counter() - start) / len(indexes)
            if len(indexes) == 1:
                return [(indexes[0], Reply.failed(exc, latency_s=latency))]
            middle = len(indexes) // 2
            return self._chat_in_halves(engine, indexes[:middle], messages, sampling) + self._chat_in_halves(
                engine, indexes[middle:], messages, sampling
            )
        # vLLM reports no per-request wall time that means the same thing across a batch.
        latency = (time.perf_counter() - start) / len(indexes)
        return [(index, _to_reply(output, latency)) for index, output in zip(indexes, outputs, strict=True)]

    def close(self) -> None:
        self.release()
        self._card = None
        self._closed = True
        _free_gpu_memory()


def _free_gpu_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _prompt_tokens(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    """The prompt's length as the model's chat template renders it, generation prompt included."""
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    return len(encoded["input_ids"])


def _to_reply(output: Any, latency: float) -> Reply:
    """One vLLM RequestOutput as a Reply; a malformed or aborted one is that conversation's failure."""
    try:
        completion = output.outputs[0]
        finish_reason = completion.finish_reason
        if finish_reason not in _FINISHED:
            return Reply.failed(f"VLLMError: request finished with {finish_reason!r}", latency_s=latency)
        prompt_ids = output.prompt_token_ids
        return Reply(
            text=completion.text,
            prompt_tokens=None if prompt_ids is None else len(prompt_ids),
            completion_tokens=len(completion.token_ids),
            finish_reason=finish_reason,
            latency_s=latency,
        )
    except Exception as exc:
        return Reply.failed(exc, latency_s=latency)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
