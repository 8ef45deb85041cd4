"""A run: item set + backend + judge(s) + metrics, resumable at any moment.

Four stages, each a public operation on a run record (runs/<run_id>/, private) that reads
what the previous one wrote there and can be called alone:

    generate  (generate.py)  replies.jsonl: a reply per item and sample, a detection answer
    judge     (judging.py)   judgements.jsonl: a final judgement per reply and judge
    score     (score.py)     result rows, or why there are none (incomplete, stopped, unscored)
    publish   (publish.py)   results/<run_id>.parquet after the secrecy audit; public examples

`run_evaluation` composes them (run.py); `rejudge` judges a finished run's replies with
other judges and `rescore` scores and publishes one again with no model or judge call.
The run id is a hash of the spec (record.py), so the same command finds the same directory
and reuses every finished reply and judgement; the cache wrappers (evaluator.cache) extend
that reuse across runs. Public result rows are written only when every item has a reply and
every judge has ruled, so nothing partial is ever published as final.
"""

from evaluator.pipeline.config import (
    DETECTION_MAX_NEW_TOKENS,
    MAX_SAMPLES,
    SAMPLE_MARK,
    RunConfig,
    RunError,
    RunOutcome,
)
from evaluator.pipeline.generate import generate
from evaluator.pipeline.judging import judge
from evaluator.pipeline.progress import OnProgress
from evaluator.pipeline.publish import publish
from evaluator.pipeline.record import SINK_BATCH, SINK_SECONDS, RunRecord, Task, build_spec, run_id_for
from evaluator.pipeline.recorded import RecordedBackend, RecordedJudge, check_run_id, finished_run
from evaluator.pipeline.run import rejudge, rescore, run_evaluation
from evaluator.pipeline.score import Scores, failure_class, judge_settings, score

__all__ = [
    "DETECTION_MAX_NEW_TOKENS",
    "MAX_SAMPLES",
    "SAMPLE_MARK",
    "SINK_BATCH",
    "SINK_SECONDS",
    "OnProgress",
    "RecordedBackend",
    "RecordedJudge",
    "RunConfig",
    "RunError",
    "RunOutcome",
    "RunRecord",
    "Scores",
    "Task",
    "build_spec",
    "check_run_id",
    "failure_class",
    "finished_run",
    "generate",
    "judge",
    "judge_settings",
    "publish",
    "rejudge",
    "rescore",
    "run_evaluation",
    "run_id_for",
    "score",
]
