"""Pipeline throughput: 10,000 items through generation, judging and scoring.

The model and the judge model are zero-latency scripted backends, so this measures the
pipeline's own cost: persisting every reply and judgement, the cache, prompt building,
verdict parsing, and metrics with 1,000 bootstrap rounds.

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
from evaluator.pipeline import RunConfig, run_evaluation
from evaluator.protocol.taxonomy import CATEGORIES, SIGNALS
from evaluator.storage import DataDir
from tests.support.scripted import ScriptedBackend
from tests.support.verdicts import category_of_judge_prompt, verdict_json

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
    return verdict_json(category, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    item_set = synthetic_items(args.items)
    with tempfile.TemporaryDirectory() as tmp:
        data = DataDir(Path(tmp))
        config = RunConfig(model="scripted:bench", item_set=item_set, judges=("scripted:judge",))
        model = ScriptedBackend(lambda conversation: REPLY, name="scripted:bench")
        judge = ChecklistJudge(ScriptedBackend(judge_responder, name="scripted:judge"), judge_id="scripted:judge")
        start = time.perf_counter()
        outcome = run_evaluation(config, data, progress=False, backend=model, judges=[judge])
        cold = time.perf_counter() - start
        assert outcome.complete, outcome.reason

        # The same run again: every reply and judgement is reused from the run directory.
        start = time.perf_counter()
        again = run_evaluation(config, data, progress=False, backend=model, judges=[judge])
        warm = time.perf_counter() - start
        assert again.rows == outcome.rows
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    calls = 2 * args.items  # reply + detection per item
    print(f"items: {args.items:,} ({calls:,} generations + {args.items:,} judge calls)")
    print(f"cold run:   {cold:7.2f} s  = {args.items / cold:8.0f} items/s")
    print(f"resumed:    {warm:7.2f} s  = {args.items / warm:8.0f} items/s (all work reused)")
    print(f"peak memory (max RSS): {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
