"""Pipeline throughput: 10,000 items through generation, judging and scoring.

The model and the judge model are zero-latency scripted backends, so this measures the
pipeline's own cost: persisting every reply and judgement, the cache, prompt building,
verdict parsing, and metrics with 1,000 bootstrap rounds.

In the same run, a minimal loop does only the irreducible work on the same items: build each
judge prompt, answer it with the same scripted judge, parse the verdict, map it to a level,
then the metrics once. The goal (issue 11): the pipeline at >= 0.5 of the minimal loop's rate.

    PYTHONPATH=. python benchmarks/pipeline_throughput.py [--items 10000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from evaluator.items import Item, ItemSet, Turn
from evaluator.judge.llm import ChecklistJudge
from evaluator.judge.panel import aggregate
from evaluator.judge.prompts import PROMPT_HASH, build_judge_messages, new_nonce
from evaluator.judge.verdict import Judgement, hash_text, parse_verdict
from evaluator.metrics.scoring import ScoredItem, compute_rows
from evaluator.pipeline import RunConfig, run_evaluation
from evaluator.protocol.taxonomy import CATEGORIES, SIGNALS
from evaluator.storage import DataDir
from tests.support.scripted import ScriptedBackend
from tests.support.verdicts import category_of_judge_prompt, nonce_of_judge_prompt, verdict_json

REPLY = (
    "I'm really sorry you're going through this. Are you safe right now? You can call or text "
    "a crisis line, or talk to someone you trust. I'm here if you want to keep talking."
)


def synthetic_items(n: int) -> ItemSet:
    items = [
        Item(
            id=f"bench-{i:05d}",
            category=CATEGORIES[i % len(CATEGORIES)],
            signal=SIGNALS[(i // len(CATEGORIES)) % len(SIGNALS)],
            turns=(Turn("user", f"Synthetic benchmark message {i}: everything has felt heavy lately."),),
        )
        for i in range(n)
    ]
    return ItemSet("bench", "1", tuple(items), "public")


def judge_responder(messages: Sequence[Mapping[str, str]]) -> str:
    category = category_of_judge_prompt(messages, CATEGORIES)
    return verdict_json(category, 4, nonce=nonce_of_judge_prompt(messages))


def minimal_loop(item_set: ItemSet, rounds: int) -> float:
    """Seconds for the irreducible work, nothing persisted."""
    start = time.perf_counter()
    reply_hash = hash_text(REPLY)
    scored = []
    for item in item_set.items:
        nonce = new_nonce()
        messages = build_judge_messages(item, REPLY, nonce)
        verdict = parse_verdict(judge_responder(messages), item.category, nonce=nonce)
        judgement = Judgement(item.id, "scripted:judge", PROMPT_HASH, reply_hash, verdict)
        agg = aggregate([judgement], item.category, item.track)
        scored.append(
            ScoredItem(
                item_id=item.id,
                category=item.category,
                signal=item.signal,
                track=item.track,
                domain=item.domain,
                level=agg.level if agg is not None else None,
                derived=agg.derived if agg is not None else None,
                refusal=agg.refusal if agg is not None else None,
                support=agg.support if agg is not None else None,
                detected=None,
                detection_done=False,
            )
        )
    compute_rows(scored, {"model": "minimal"}, rounds=rounds, seed=0)
    return time.perf_counter() - start


def pipeline_run(item_set: ItemSet) -> tuple[float, float]:
    """Seconds for a cold run and for the same run resumed, in a fresh data directory."""
    with tempfile.TemporaryDirectory() as tmp:
        data = DataDir(Path(tmp))
        config = RunConfig(model="scripted:bench", item_set=item_set, judges=("scripted:judge",))
        model = ScriptedBackend(lambda conversation: REPLY, name="scripted:bench", record_calls=False)
        judge_backend = ScriptedBackend(judge_responder, name="scripted:judge", record_calls=False)
        judge = ChecklistJudge(judge_backend, judge_id="scripted:judge")
        start = time.perf_counter()
        outcome = run_evaluation(config, data, progress=False, backend=model, judges=[judge])
        cold = time.perf_counter() - start
        assert outcome.complete, outcome.reason

        # The same run again: every reply and judgement is reused from the run directory.
        start = time.perf_counter()
        again = run_evaluation(config, data, progress=False, backend=model, judges=[judge])
        warm = time.perf_counter() - start
        assert again.rows == outcome.rows
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each; the best is compared")
    args = parser.parse_args()
    item_set = synthetic_items(args.items)
    bootstrap_rounds = RunConfig(model="", item_set=item_set).bootstrap_rounds
    # Interleaved, so a burst of load on this shared machine hits both sides alike; the best
    # of each is the least disturbed measurement of the same work.
    colds, warms, floors = [], [], []
    for _ in range(args.rounds):
        floors.append(minimal_loop(item_set, bootstrap_rounds))
        cold, warm = pipeline_run(item_set)
        colds.append(cold)
        warms.append(warm)
    cold, warm, floor = min(colds), min(warms), min(floors)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    calls = 2 * args.items  # reply + detection per item
    print(f"items: {args.items:,} ({calls:,} generations + {args.items:,} judge calls); best of {args.rounds} rounds")
    print(f"cold run:   {cold:7.2f} s  = {args.items / cold:8.0f} items/s")
    print(f"resumed:    {warm:7.2f} s  = {args.items / warm:8.0f} items/s (all work reused)")
    print(f"minimal:    {floor:7.2f} s  = {args.items / floor:8.0f} items/s (prompt, judge, parse, level, metrics)")
    ratio = floor / cold
    per_round = ", ".join(f"{f / c:.2f}" for f, c in zip(floors, colds, strict=True))
    verdict = "ok" if ratio >= 0.5 else "MISSED"
    print(f"pipeline / minimal loop: {ratio:.2f} (goal >= 0.5) {verdict}; per round {per_round}")
    print(f"peak memory (max RSS): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
