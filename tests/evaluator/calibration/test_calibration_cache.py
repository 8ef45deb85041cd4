"""Calibration judges through the pipeline's CachingJudge: one set of cache keys (content
hashes, never an item id), so a verdict cached by one serves the other."""

from __future__ import annotations

from pathlib import Path

from evaluator.cache import Cache, CachingJudge
from evaluator.calibration import calibrate, load_ratings
from evaluator.judge.verdict import JudgeTask
from evaluator.storage import DataDir
from tests.evaluator.calibration.test_calibration import ratings_rows, scripted_judge, write_jsonl


def test_verdicts_cached_by_the_pipeline_serve_calibration_and_back(tmp_path: Path) -> None:
    pairs = load_ratings(write_jsonl(tmp_path / "ratings.jsonl", ratings_rows()))
    unique = {p.judge_key: p for p in pairs}
    cache = Cache(DataDir.at(tmp_path / "var").cache / "cache.sqlite")
    try:
        judge, backend = scripted_judge()
        first_half = list(unique.values())[:4]
        CachingJudge(judge, cache).judge([JudgeTask(p.item, p.reply) for p in first_half])
        assert len(backend.calls) == 4

        judge, backend = scripted_judge()
        calibrate(pairs, judge, cache=cache)
        assert len(backend.calls) == len(unique) - 4  # only what the pipeline had not judged

        judge, backend = scripted_judge()
        again = CachingJudge(judge, cache).judge([JudgeTask(p.item, p.reply) for p in unique.values()])
        assert backend.calls == [] and all(j.scored for j in again)
    finally:
        cache.close()
