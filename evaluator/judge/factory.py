"""Judge specs: `heuristic` (offline, unofficial) or any backend spec as a checklist judge."""

from __future__ import annotations

import difflib
import logging
import os

from evaluator.backends import Backend, BackendOptions, BackendSpec, SpecError, make_backend, parse_spec
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.judge.llm import ChecklistJudge
from evaluator.judge.verdict import Judge

HEURISTIC = "heuristic"
log = logging.getLogger(__name__)


def parse_judge_spec(spec: str) -> BackendSpec:
    """A model judge's backend spec; a typo of `heuristic` is answered with it."""
    try:
        return parse_spec(spec)
    except SpecError as exc:
        near = difflib.get_close_matches(spec.partition("@")[0].lower(), [HEURISTIC], n=1, cutoff=0.7)
        if near:
            raise SpecError(f"unknown judge {spec[:80]!r}: did you mean {near[0]!r}?") from None
        raise SpecError(f"unknown judge {spec[:80]!r}: use heuristic, or a model spec ({exc})") from None


def judge_endpoint(spec: str, options: BackendOptions | None = None) -> str | None:
    """Where an openai: judge sends its requests, and why there when no base URL was given;
    None for judges that call no endpoint (the heuristic, local models)."""
    if spec == HEURISTIC or spec.startswith(HEURISTIC + "@"):
        return None
    parsed = parse_judge_spec(spec)
    if parsed.kind != "openai":
        return None
    if options is not None and options.base_url:
        return options.base_url
    from evaluator.backends.openai import DEFAULT_BASE_URL  # why: http.client, ssl only for an openai: judge

    if os.environ.get("OPENAI_BASE_URL"):
        return f"{os.environ['OPENAI_BASE_URL']} (from OPENAI_BASE_URL; no --judge-base-url given)"
    return f"{DEFAULT_BASE_URL} (the default; no --judge-base-url or OPENAI_BASE_URL given)"


def make_judge(spec: str, options: BackendOptions | None = None) -> Judge:
    if spec == HEURISTIC or spec.startswith(HEURISTIC + "@"):
        return HeuristicJudge()
    parsed = parse_judge_spec(spec)
    backend = make_backend(parsed, options)
    if parsed.kind == "openai" and not (options is not None and options.base_url):
        # Said out loud: a judge spec alone silently sending every reply to a public API
        # is a surprise (and a data-flow decision) the user should see.
        log.warning("judge %s calls %s", spec, judge_endpoint(spec, options))
    return checklist_judge(spec, backend)


def checklist_judge(spec: str, backend: Backend) -> Judge:
    """The checklist judge `spec` names over a backend already running (a replica on a Ray cluster)."""
    parsed = parse_spec(spec)
    info = backend.info
    # Pin the judge: its id carries the revision when the backend resolved one.
    judge_id = info.spec if info.revision is None or "@" in info.spec else f"{info.spec}@{info.revision}"
    return ChecklistJudge(backend, judge_id=judge_id, family=parsed.target)
