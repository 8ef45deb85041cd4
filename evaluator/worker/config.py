"""A worker's configuration, and which backend evaluates a request on this machine."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from evaluator.backends import BackendOptions, SpecError
from evaluator.storage import DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from submissions.records import RequestRecord

log = logging.getLogger("evaluator.worker")

DEFAULT_INTERVAL_S: Final = 30.0
DEFAULT_GRACE_S: Final = 5.0
OPEN_WEIGHT_BACKENDS: Final = ("auto", "hf", "vllm")
JOB_ID: Final = "evaluator-worker"
MAX_IDLE_ERRORS: Final = 3  # --until-idle gives up after this many failed ticks in a row
SETTLE_RETRY_S: Final = 120.0  # how long a FINISHED/FAILED commit the store refused is retried
UNREADABLE_CHECK_S: Final = 300.0  # how often an idle worker lists records to report unreadable ones


def default_worker_name() -> str:
    # Recorded in public request files: a digest rather than the machine's host name.
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
    return os.environ.get("CRISIS_WORKER_NAME") or f"worker-{host}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerConfig:
    data: str = DEFAULT_DATA_DIR
    item_set: str | None = None  # as `evaluator run --set` takes it; None: $CRISIS_SET, else public-sample
    judges: tuple[str, ...] = ("heuristic",)
    judge_base_url: str | None = None
    judge_api_key_env: str = "OPENAI_API_KEY"
    open_weight_backend: str = "auto"
    name: str = field(default_factory=default_worker_name)
    lease_s: float | None = None  # None: $CRISIS_LEASE_S (submissions.config)
    max_attempts: int | None = None  # None: $CRISIS_MAX_ATTEMPTS
    heartbeat_s: float | None = None  # None: a third of the lease
    concurrency: int = 16
    timeout_s: float = 120.0
    bootstrap_rounds: int = 1000
    store: str | None = None  # local:DIR | hub:ORG/PREFIX; None: `data`
    open_weight: bool = True  # False on a Space: open-weight requests wait for GPU workers
    executor: str = "local"  # local | ray (evaluator.executors)
    ray_address: str | None = None
    max_concurrent: int = 1  # requests evaluated at once (ray)
    # PROTOCOL section 9: the conversation track, as `evaluator converse --personas` takes it.
    # None: $CRISIS_PERSONAS, else public-personas; "none" evaluates single replies only.
    personas: str | None = None
    user_sim: str | None = None  # None: $CRISIS_USER_SIM, else script (the offline simulator)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> WorkerConfig:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        judges = [j.strip() for j in env.get("CRISIS_JUDGES", "").split(",") if j.strip()]
        if judges:
            values["judges"] = tuple(judges)
        if env.get("CRISIS_JUDGE_BASE_URL"):
            values["judge_base_url"] = env["CRISIS_JUDGE_BASE_URL"]
        if env.get("CRISIS_JUDGE_API_KEY_ENV"):
            values["judge_api_key_env"] = env["CRISIS_JUDGE_API_KEY_ENV"]
        if env.get("CRISIS_OPEN_WEIGHT_BACKEND"):
            values["open_weight_backend"] = env["CRISIS_OPEN_WEIGHT_BACKEND"]
        if env.get("SPACE_ID"):
            values["open_weight"] = False
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        if config.open_weight_backend not in OPEN_WEIGHT_BACKENDS:
            raise ValueError(f"open-weight backend must be one of {', '.join(OPEN_WEIGHT_BACKENDS)}")
        return config


# ------------------------------------------------------------------------ backend choice


def api_key_env_for(
    base_url: str | None, env: Mapping[str, str] | None = None, *, judge_key_env: str = "OPENAI_API_KEY"
) -> str:
    """Which environment variable holds the key for this model's host; "" for no key at all.

    $CRISIS_API_KEYS maps hosts to variable names ("api.together.xyz=TOGETHER_API_KEY,...").
    An API model's base URL is its submitter's choice, so a key goes only to the host it is
    configured for: any other host gets none (and a 401 from it says so). The judge's
    variable is never a model's, even when mapped: it would hand the judge's key to whoever
    runs that endpoint.
    """
    env = os.environ if env is None else env
    host = (urlsplit(base_url).hostname or "") if base_url else ""
    for pair in env.get("CRISIS_API_KEYS", "").split(","):
        name, sep, var = pair.strip().partition("=")
        if sep and host and name.strip().lower() == host.lower() and var.strip():
            if var.strip() == judge_key_env:
                log.warning("CRISIS_API_KEYS maps %s to the judge's key (%s): sending no key", host, judge_key_env)
                return ""
            return var.strip()
    return ""


def gpus() -> tuple[int, int]:
    """(CUDA device count, memory of the first device in bytes); (0, 0) without torch or GPU."""
    if importlib.util.find_spec("torch") is None:
        return 0, 0
    import torch

    if not torch.cuda.is_available():
        return 0, 0
    return torch.cuda.device_count(), int(torch.cuda.get_device_properties(0).total_memory)


def tensor_parallel_for(params: int | None, count: int, memory: int) -> int:
    """The fewest GPUs (a power of two) whose memory holds the weights with room for the KV cache."""
    if not params or count <= 1 or memory <= 0:
        return 1
    need = params * 2 * 1.3  # 16-bit weights, and headroom for activations and the KV cache
    tp = 1
    while tp * 2 <= count and need / tp > memory * 0.9:
        tp *= 2
    return tp


def backend_for(record: RequestRecord, config: WorkerConfig) -> tuple[str, BackendOptions]:
    """The spec and options that evaluate this request on this machine."""
    if record.model_type == "baseline":
        return record.spec, BackendOptions()
    if record.model_type == "api":
        if not record.base_url:
            raise SpecError("this API model request has no base URL")
        return record.spec, BackendOptions(
            base_url=record.base_url,
            api_key_env=api_key_env_for(record.base_url, judge_key_env=config.judge_api_key_env),
            concurrency=config.concurrency,
            timeout_s=config.timeout_s,
        )
    if not record.sha:
        raise SpecError("this request has no pinned commit; resubmit it")
    kind = config.open_weight_backend
    count, memory = (0, 0) if kind == "hf" else gpus()
    if kind == "auto":
        kind = "vllm" if count and importlib.util.find_spec("vllm") is not None else "hf"
    tp = tensor_parallel_for(record.params, count, memory) if kind == "vllm" else 1
    return f"{kind}:{record.model}@{record.sha}", BackendOptions(tensor_parallel_size=tp)
