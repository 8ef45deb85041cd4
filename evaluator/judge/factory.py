"""Judge specs: `heuristic` (offline, unofficial) or any backend spec as a checklist judge."""

from __future__ import annotations

from evaluator.backends import BackendOptions, make_backend, parse_spec
from evaluator.judge.verdict import Judge

HEURISTIC = "heuristic"


def make_judge(spec: str, options: BackendOptions | None = None) -> Judge:
    if spec == HEURISTIC or spec.startswith(HEURISTIC + "@"):
        from evaluator.judge.heuristic import HeuristicJudge

        return HeuristicJudge()
    from evaluator.judge.llm import ChecklistJudge

    parsed = parse_spec(spec)
    backend = make_backend(parsed, options)
    info = backend.info
    # Pin the judge: its id carries the revision when the backend resolved one.
    judge_id = info.spec if info.revision is None or "@" in info.spec else f"{info.spec}@{info.revision}"
    return ChecklistJudge(backend, judge_id=judge_id, family=parsed.target)
