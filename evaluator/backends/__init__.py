"""Backends behind one interface; vendor packages are imported only by the backend using them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evaluator.backends.base import (
    Backend,
    BackendError,
    Conversation,
    GenerationParams,
    Message,
    ModelInfo,
    OnReply,
    Reply,
)
from evaluator.backends.baseline import BaselineBackend
from evaluator.backends.demo import DemoBackend
from evaluator.backends.hf import HFBackend
from evaluator.backends.replay import ReplayBackend
from evaluator.backends.spec import BackendSpec, SpecError, parse_spec
from evaluator.backends.vllm import VLLMBackend

__all__ = [
    "Backend",
    "BackendError",
    "BackendOptions",
    "BackendSpec",
    "Conversation",
    "GenerationParams",
    "Message",
    "ModelInfo",
    "OnReply",
    "Reply",
    "SpecError",
    "make_backend",
    "parse_spec",
]


@dataclass(frozen=True, slots=True)
class BackendOptions:
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16
    timeout_s: float = 120.0
    max_retries: int = 5
    batch_size: int = 0  # hf: 0 is auto (the largest batch that fits on CUDA; 8 on CPU)
    device: str | None = None
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1  # vllm: >1 spans nodes (evaluator.placement)
    maintainer: bool = False  # replay: a verified maintainer may replay on a private set


def make_backend(spec: str | BackendSpec, options: BackendOptions | None = None) -> Backend:
    """Build the backend a spec names. Raises SpecError or BackendError with a one-line reason."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    opts = options or BackendOptions()
    if parsed.kind == "baseline":
        try:
            return BaselineBackend(parsed.target)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
    if parsed.kind == "demo":
        try:
            return DemoBackend(parsed.target)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
    if parsed.kind == "replay":
        return ReplayBackend(parsed.target, maintainer=opts.maintainer)
    if parsed.kind == "openai":
        from evaluator.backends.openai import OpenAIBackend  # why: http.client, ssl (~40 ms) for API kinds only

        return OpenAIBackend(
            parsed.target,
            base_url=opts.base_url,
            api_key_env=opts.api_key_env,
            concurrency=opts.concurrency,
            timeout_s=opts.timeout_s,
            max_retries=opts.max_retries,
        )
    if parsed.kind == "hf":
        return HFBackend(parsed, batch_size=opts.batch_size, device=opts.device)
    if parsed.kind == "vllm":
        # Pipeline stages on other nodes are Ray actors; vLLM's own default backend stays on one node.
        spans: dict[str, Any] = {
            "pipeline_parallel_size": opts.pipeline_parallel_size,
            "distributed_executor_backend": "ray",
        }
        return VLLMBackend(
            parsed, tensor_parallel_size=opts.tensor_parallel_size, **(spans if opts.pipeline_parallel_size > 1 else {})
        )
    raise SpecError(f"no backend for {parsed}")
