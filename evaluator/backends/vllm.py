"""The `vllm:` backend: vLLM's offline engine, the whole item set in one batched chat call.

vLLM needs a CUDA GPU, so it is imported only when the engine is first needed, never when the
backend is built (the Space and CPU workers construct backends too). The engine is reached
through `VLLMEngine`, whose parts a test can script, so this adapter is tested without vLLM.

vLLM applies the model's own chat template (LLM.chat) and schedules the conversations itself,
so there is no batching here. Submissions meet the same rules as with the hf: backend: the
revision is pinned to a commit, weights must be safetensors, the tokenizer must have a chat
template, and no custom modelling code runs.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from evaluator.backends.base import (
    BackendError,
    Conversation,
    GenerationParams,
    ModelInfo,
    OnReply,
    Reply,
    with_system_prompt,
)
from evaluator.backends.spec import BackendSpec

VLLM_MISSING = "vLLM is not installed here; it needs a CUDA GPU (pip install -r requirements-gpu.txt)"
_FINISHED = ("stop", "length")


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


# Called once, with the keyword arguments for vllm.LLM.
EngineFactory = Callable[[dict[str, Any]], VLLMEngine]


def start_vllm_engine(llm_kwargs: dict[str, Any]) -> VLLMEngine:
    """The real engine: import vLLM, vet the submission, pin its commit, start vllm.LLM."""
    try:
        from vllm import LLM, SamplingParams
        from vllm.sampling_params import StructuredOutputsParams
    except ImportError:
        raise BackendError(VLLM_MISSING) from None
    from evaluator.backends.hf import NO_SAFETENSORS, has_safetensors, load_chat_tokenizer, resolve_hub_model

    repo_id = str(llm_kwargs["model"])
    hub = resolve_hub_model(repo_id, llm_kwargs.get("revision"))
    if not has_safetensors(hub.files):
        raise BackendError(f"{repo_id} {NO_SAFETENSORS}")
    # Checked with the tokenizer alone, before vLLM spends minutes loading weights onto GPUs.
    load_chat_tokenizer(repo_id, hub.sha, name=repo_id, remote=True)
    kwargs = {**llm_kwargs, "revision": hub.sha, "tokenizer_revision": hub.sha}
    try:
        llm = LLM(**kwargs)
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
        revision=hub.sha,
        details={"vllm": vllm_version},
    )


class VLLMBackend:
    def __init__(
        self,
        spec: BackendSpec,
        tensor_parallel_size: int = 1,
        engine_factory: EngineFactory | None = None,
        *,
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
        self._use_tqdm = use_tqdm
        self._llm_kwargs: dict[str, Any] = {
            # vLLM refuses pickled checkpoints with this, whatever else the repository holds.
            "load_format": "safetensors",
            **engine_kwargs,
            "model": spec.target,
            "revision": spec.revision,
            "tensor_parallel_size": tensor_parallel_size,
            "trust_remote_code": False,
        }
        self._engine: VLLMEngine | None = None
        self._closed = False
        self._last_sampling: dict[str, Any] | None = None

    @property
    def info(self) -> ModelInfo:
        """What is known so far: the revision is the resolved commit once the engine has started."""
        engine_kwargs = {k: _jsonable(v) for k, v in self._llm_kwargs.items() if k not in ("model", "revision")}
        details: dict[str, Any] = {
            "backend": "vllm",
            "requested_revision": self._spec.revision,
            "tensor_parallel_size": self._tensor_parallel_size,
            "engine_kwargs": engine_kwargs,
            "sampling_params": self._last_sampling,
        }
        revision = self._spec.revision
        if self._engine is not None:
            details.update(self._engine.details)
            revision = self._engine.revision or revision
        return ModelInfo(
            spec=str(self._spec), model=self._spec.target, revision=revision, model_type="open-weight", details=details
        )

    def load(self) -> VLLMEngine:
        """Start the engine if it is not running yet; BackendError if it cannot start at all."""
        if self._closed:
            raise BackendError(f"{self._spec} is closed")
        if self._engine is None:
            self._engine = self._factory(dict(self._llm_kwargs))
        return self._engine

    def _sampling_params(self, engine: VLLMEngine, params: GenerationParams) -> Any:
        options: dict[str, Any] = {
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
            "seed": params.seed,
        }
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
        engine = self.load()
        messages = [with_system_prompt(conversation, params) for conversation in conversations]
        start = time.perf_counter()
        try:
            sampling = self._sampling_params(engine, params)
            outputs = list(engine.llm.chat(messages, sampling_params=sampling, use_tqdm=self._use_tqdm))
            if len(outputs) != len(messages):
                raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(messages)} conversations")
        except Exception as exc:
            # One call for everything, so a failure belongs to every conversation in it.
            latency = (time.perf_counter() - start) / len(messages)
            replies = [Reply.failed(exc, latency_s=latency) for _ in messages]
        else:
            # vLLM reports no per-request wall time that means the same thing across a batch.
            latency = (time.perf_counter() - start) / len(messages)
            replies = [_to_reply(output, latency) for output in outputs]
        if on_reply:
            for index, reply in enumerate(replies):
                on_reply(index, reply)
        return replies

    def close(self) -> None:
        self._engine = None
        self._closed = True
        gc.collect()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()


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
