"""GPU workers as Hugging Face Jobs: `python -m evaluator jobs schedule|run|list|cancel --store hub:ORG/PREFIX`.

A scheduled job starts the worker image on Hugging Face's GPUs with `worker --store hub:ORG/PREFIX
--until-idle`, so GPU time is paid only while the queue has work. The flavor follows the model size
with the placement rule the worker and the Ray executor use (evaluator/placement.py): the cheapest
flavor whose GPUs hold the largest model the leaderboard accepts (or `--params`). Tokens and judge
keys travel as job *secrets* (encrypted on the Hub, never shown back), never as env or arguments.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from evaluator.placement import GIB, Cluster, PlacementError, gpus_for
from evaluator.storage import StoreError, resolve_spec
from submissions.config import Settings

DEFAULT_SCHEDULE: Final = "@hourly"
DEFAULT_TIMEOUT: Final = "6h"  # a job that outlives this is stuck; its lease returns the request to the queue
IMAGE_ENV: Final = "CRISIS_WORKER_IMAGE"
LABEL_APP: Final = "crisis-leaderboard"
# Cron as the Hub takes it: an @-alias or five fields.
_SCHEDULE = re.compile(r"@(?:annually|yearly|monthly|weekly|daily|hourly)|(?:[0-9*/,\-]+\s+){4}[0-9*/,\-]+")
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
# Worker settings that are configuration, not secrets: passed on as job env when set here.
PASSED_ENV: Final = (
    "CRISIS_JUDGES",
    "CRISIS_JUDGE_BASE_URL",
    "CRISIS_JUDGE_API_KEY_ENV",
    "CRISIS_API_KEYS",
    "CRISIS_SET",
    "CRISIS_LEASE_S",
    "CRISIS_MAX_ATTEMPTS",
)


class JobsError(RuntimeError):
    """One line for the user; the CLI prints it and exits 2."""


@dataclass(frozen=True, slots=True)
class Flavor:
    name: str
    gpus: int
    gpu_memory_gib: int
    usd_per_hour: float  # approximate list price, only used to prefer the cheaper of two flavors that fit


# Hugging Face Jobs GPU flavors that vLLM runs on (compute capability 8.0+; T4 is left out).
# Prices: Hugging Face's published hourly rates at the time of writing; `hf jobs hardware` has today's.
FLAVORS: Final = (
    Flavor("l4x1", 1, 24, 0.80),
    Flavor("a10g-large", 1, 24, 1.50),
    Flavor("l40sx1", 1, 48, 1.80),
    Flavor("a100-large", 1, 80, 2.50),
    Flavor("a10g-largex2", 2, 24, 3.00),
    Flavor("l4x4", 4, 24, 3.80),
    Flavor("h200", 1, 141, 5.00),
    Flavor("a10g-largex4", 4, 24, 5.00),
    Flavor("l40sx4", 4, 48, 8.30),
    Flavor("a100x4", 4, 80, 10.00),
    Flavor("h200x2", 2, 141, 10.00),
    Flavor("a100x8", 8, 80, 20.00),
    Flavor("h200x4", 4, 141, 20.00),
    Flavor("l40sx8", 8, 48, 23.50),
    Flavor("h200x8", 8, 141, 40.00),
)
FLAVOR_NAMES: Final = frozenset(f.name for f in FLAVORS) | {"cpu-basic", "cpu-upgrade", "t4-small", "t4-medium"}


def flavor_for(params: int | None, precision: str | None = "auto") -> Flavor:
    """The cheapest flavor whose GPUs hold a model of `params` parameters (the worker's placement rule)."""
    for flavor in sorted(FLAVORS, key=lambda f: (f.usd_per_hour, f.gpus)):
        try:
            placement = gpus_for(
                params, precision, Cluster(gpus_per_node=flavor.gpus, gpu_memory=flavor.gpu_memory_gib * GIB)
            )
        except PlacementError:
            continue
        if placement.gpus <= flavor.gpus:
            return flavor
    size = f"{params / 1e9:.0f}B-parameter" if params else "this"
    raise JobsError(f"no single Hugging Face Jobs flavor holds a {size} model in {precision or 'auto'}")


@dataclass(frozen=True, slots=True)
class HubTarget:
    org: str
    prefix: str

    @property
    def store(self) -> str:
        return f"hub:{self.org}/{self.prefix}"


def hub_target(store: str | None, env: Mapping[str, str] | None = None) -> HubTarget:
    try:
        spec = resolve_spec(store, None, os.environ if env is None else env)
    except StoreError as exc:
        raise JobsError(str(exc)) from None
    if spec.kind != "hub" or not spec.org or not spec.prefix:
        raise JobsError(f"jobs run workers against a Hub store: give --store hub:ORG/PREFIX (got {spec})")
    if _offline(os.environ if env is None else env):
        raise JobsError("cannot reach the Hugging Face Hub: offline mode is on (unset HF_HUB_OFFLINE to manage jobs)")
    return HubTarget(spec.org, spec.prefix)


def _offline(env: Mapping[str, str]) -> bool:
    # The environment as it is now: huggingface_hub reads HF_HUB_OFFLINE once, at import.
    value = env.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.strip().upper() in ("1", "ON", "YES", "TRUE")
    from huggingface_hub import constants

    return bool(constants.is_offline_mode())


def worker_command(target: HubTarget) -> list[str]:
    return ["python", "-m", "evaluator", "worker", "--store", target.store, "--until-idle"]


def job_secrets(env: Mapping[str, str], extra: Sequence[str] = ()) -> dict[str, str]:
    """HF_TOKEN (write access to the three repos), the judge's key and any `--secret NAME`, from `env`."""
    token = env.get("HF_TOKEN")
    if not token:
        from huggingface_hub import get_token

        token = get_token()
    if not token:
        raise JobsError("no Hugging Face token: set HF_TOKEN (write access to the store's three repos) or log in")
    secrets = {"HF_TOKEN": token}
    names = list(extra)
    judges = [j.strip() for j in env.get("CRISIS_JUDGES", "").split(",") if j.strip()]
    if any(j.startswith("openai:") for j in judges) or env.get("CRISIS_JUDGE_API_KEY_ENV"):
        # The worker reads the judge's key from this variable (evaluator.worker's default name).
        names.append(env.get("CRISIS_JUDGE_API_KEY_ENV") or "OPENAI_API_KEY")
    for name in names:
        if not _ENV_NAME.fullmatch(name):
            raise JobsError(f"--secret {name!r}: expected an environment variable name like OPENAI_API_KEY")
        if not env.get(name):
            raise JobsError(f"secret {name} is not set in this environment; export it first")
        secrets[name] = env[name]
    return secrets


def job_env(env: Mapping[str, str]) -> dict[str, str]:
    # HF_HUB_DISABLE_TELEMETRY: the worker reports nothing beyond its own commits.
    out = {name: env[name] for name in PASSED_ENV if env.get(name)}
    out["HF_HUB_DISABLE_TELEMETRY"] = "1"
    return out


@dataclass(frozen=True, slots=True)
class JobPlan:
    target: HubTarget
    image: str
    flavor: str
    command: list[str]
    env: dict[str, str]
    secrets: dict[str, str]
    labels: dict[str, str]
    timeout: str


def plan(
    store: str | None,
    *,
    image: str | None,
    flavor: str | None,
    params: int | None,
    precision: str,
    secrets: Sequence[str] = (),
    timeout: str = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
) -> JobPlan:
    """Everything a job needs, checked before anything is sent to the Hub."""
    env = os.environ if env is None else env
    target = hub_target(store, env)
    image = image or env.get(IMAGE_ENV)
    if not image:
        raise JobsError(f"no worker image: give --image (built from the repository's Dockerfile) or set {IMAGE_ENV}")
    if not _IMAGE.fullmatch(image):
        raise JobsError(f"--image {image!r}: not a container image reference")
    if flavor is None:
        if params is None:
            params = Settings.from_env(env).max_params
        flavor = flavor_for(params, precision).name
    elif flavor not in FLAVOR_NAMES:
        raise JobsError(f"--flavor {flavor!r}: expected one of {', '.join(sorted(FLAVOR_NAMES))}")
    if not re.fullmatch(r"[1-9][0-9]{0,4}[smhd]", timeout):
        raise JobsError(f"--timeout {timeout!r}: expected a duration like 90m or 6h")
    return JobPlan(
        target=target,
        image=image,
        flavor=flavor,
        command=worker_command(target),
        env=job_env(env),
        secrets=job_secrets(env, secrets),
        labels={"app": LABEL_APP, "store": target.prefix},
        timeout=timeout,
    )


def _api(endpoint: str | None = None) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint)


def _ask(call: Callable[[], Any], target: HubTarget) -> Any:
    """Run one jobs call; Hub failures become one line naming the namespace and what is missing."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        return call()
    except OfflineModeIsEnabled:
        raise JobsError("cannot reach the Hugging Face Hub: offline mode is on (HF_HUB_OFFLINE=1)") from None
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise JobsError(
                f"the Hub refused (HTTP {status}): the token needs write access to jobs in {target.org}"
            ) from None
        if status == 404:
            raise JobsError(f"not found on the Hub in {target.org} (HTTP 404)") from None
        detail = (getattr(exc, "server_message", None) or "").splitlines()
        raise JobsError(
            f"the Hub answered HTTP {status or 'error'}" + (f": {detail[0][:200]}" if detail else "")
        ) from None
    except (ConnectionError, TimeoutError, OSError) as exc:
        raise JobsError(f"cannot reach the Hugging Face Hub ({type(exc).__name__}); try again later") from None
    except Exception as exc:
        if any(c.__name__ in ("TransportError", "TimeoutException") for c in type(exc).__mro__):
            raise JobsError(f"cannot reach the Hugging Face Hub ({type(exc).__name__}); try again later") from None
        raise


def _job_arguments(job: JobPlan) -> dict[str, Any]:
    """What a scheduled job and a job run now are both made of: the worker image and command, its
    env and secrets, the hardware, the time limit, and the name and labels `jobs list` finds it by."""
    return {
        "image": job.image,
        "command": job.command,
        "env": job.env,
        "secrets": job.secrets,
        "flavor": job.flavor,
        "timeout": job.timeout,
        "name": f"crisis-worker-{job.target.prefix}",
        "labels": {**job.labels},
        "namespace": job.target.org,
    }


def schedule(job: JobPlan, when: str = DEFAULT_SCHEDULE, *, api: Any = None) -> Any:
    if not _SCHEDULE.fullmatch(when.strip()):
        raise JobsError(f"--schedule {when!r}: expected @hourly, @daily... or five cron fields like '*/30 * * * *'")
    api = api or _api()
    # One worker at a time per schedule: the next tick finds the queue empty or the last one still going.
    return _ask(
        lambda: api.create_scheduled_job(**_job_arguments(job), schedule=when.strip(), concurrency=False), job.target
    )


def run_once(job: JobPlan, *, api: Any = None) -> Any:
    api = api or _api()
    return _ask(lambda: api.run_job(**_job_arguments(job)), job.target)


def listing(target: HubTarget, *, api: Any = None) -> list[str]:
    """One line per scheduled job and job of this store."""
    api = api or _api()
    labels = {"app": LABEL_APP, "store": target.prefix}
    scheduled = _ask(lambda: api.list_scheduled_jobs(namespace=target.org, labels=labels), target)
    jobs = _ask(lambda: list(api.list_jobs(namespace=target.org, labels=labels)), target)
    lines = []
    for s in scheduled:
        state = "suspended" if s.suspend else "active"
        lines.append(f"scheduled  {s.id}  {s.schedule}  {s.job_spec.flavor}  {state}")
    for j in jobs:
        started = j.created_at.strftime("%Y-%m-%d %H:%M") if j.created_at else "?"
        lines.append(f"job        {j.id}  {started}  {j.flavor}  {j.status.stage}")
    return lines


def cancel(target: HubTarget, job_id: str, *, api: Any = None) -> str:
    """Delete a schedule, or cancel a running job, by id; says which it was."""
    if not _JOB_ID.fullmatch(job_id):
        raise JobsError(f"{job_id!r}: not a job id (see `jobs list`)")
    api = api or _api()
    labels = {"app": LABEL_APP, "store": target.prefix}
    scheduled = _ask(lambda: api.list_scheduled_jobs(namespace=target.org, labels=labels), target)
    if any(s.id == job_id for s in scheduled):
        _ask(lambda: api.delete_scheduled_job(scheduled_job_id=job_id, namespace=target.org), target)
        return f"deleted schedule {job_id}"
    jobs = _ask(lambda: list(api.list_jobs(namespace=target.org, labels=labels)), target)
    if not any(j.id == job_id for j in jobs):
        raise JobsError(f"no job or schedule {job_id} of {target.store} in {target.org} (see `jobs list`)")
    _ask(lambda: api.cancel_job(job_id=job_id, namespace=target.org), target)
    return f"cancelled job {job_id}"
