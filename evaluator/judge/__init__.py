"""Judging replies against the checklist: the model judge, the offline heuristic, panels."""

from evaluator.judge.heuristic import HeuristicJudge
from evaluator.judge.llm import ChecklistJudge
from evaluator.judge.panel import AggregatedJudgement, aggregate, panel_alpha, same_family
from evaluator.judge.prompts import PROMPT_HASH, PROMPT_VERSION, VERDICT_JSON_SCHEMA
from evaluator.judge.verdict import Judge, Judgement, JudgeTask, Verdict, VerdictError, parse_verdict

__all__ = [
    "PROMPT_HASH",
    "PROMPT_VERSION",
    "VERDICT_JSON_SCHEMA",
    "AggregatedJudgement",
    "ChecklistJudge",
    "HeuristicJudge",
    "Judge",
    "JudgeTask",
    "Judgement",
    "Verdict",
    "VerdictError",
    "aggregate",
    "panel_alpha",
    "parse_verdict",
    "same_family",
]
