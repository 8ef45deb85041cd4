"""`python -m evaluator run`: evaluate one model on an item set, and the summary table it prints
(which `rejudge` and `rescore` print too)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from evaluator.catalog import resolve_set
from evaluator.cli.common import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    UsageError,
    backend_options_from_args,
    generation_from_args,
    maintainer_from_args,
    summary_table,
)
from evaluator.pipeline import MAX_SAMPLES, RunConfig, run_evaluation
from evaluator.storage import RunSink, add_store_arguments, read_jsonl, store_from_args


def _batch_size(text: str) -> int:
    """--batch-size: a positive number, or auto (0)."""
    if text.strip().lower() == "auto":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number or auto, got {text[:20]!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number or auto, got {value}")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    if not 1 <= args.samples <= MAX_SAMPLES:
        raise UsageError(f"--samples must be 1-{MAX_SAMPLES}, got {args.samples}")
    if args.samples > 1 and args.temperature <= 0:
        raise UsageError("--samples above 1 needs --temperature above 0: greedy decoding gives one reply K times")
    store = store_from_args(args)
    data = store.data
    item_set = resolve_set(args.set, data)
    judges = tuple(args.judge or ["heuristic"])
    config = RunConfig(
        model=args.model,
        item_set=item_set,
        judges=judges,
        params=generation_from_args(args),
        model_options=backend_options_from_args(
            args,
            args.base_url,
            args.api_key_env,
            tensor_parallel_size=args.tensor_parallel_size,
            maintainer=maintainer_from_args(args),
        ),
        judge_options=backend_options_from_args(
            args, args.judge_base_url or args.base_url, args.judge_api_key_env or args.api_key_env
        ),
        detection=not args.no_detection,
        bootstrap_rounds=args.bootstrap_rounds,
        seed=args.seed,
        samples=args.samples,
    )

    sink = RunSink(store)
    outcome = run_evaluation(config, data, progress=not args.quiet, sink=sink)
    if outcome.complete:
        sink.publish()
    else:
        sink.save(outcome.status)
    if not outcome.complete:
        sys.stderr.write(f"run {outcome.run_id} {outcome.status}: {outcome.reason}\n")
        first = _first_failure(data.run_dir(outcome.run_id))
        if first:
            sys.stderr.write(f"first failure: {first}\n")
        return EXIT_INCOMPLETE
    print(f"run {outcome.run_id}: {config.model} on {item_set.name}@{item_set.version}, judge {'+'.join(judges)}")
    print(summary_table(outcome.rows))
    print(f"\nresult rows: {outcome.result_file}")
    return EXIT_OK


def _first_failure(run_dir: Path) -> str | None:
    """The newest failed generation's error as the backend wrote it (the URL it tried, say):
    the run's reason names only the error classes, this terminal may see the whole line."""
    errors = [str(r.get("reply", {}).get("error") or "") for r in read_jsonl(run_dir / "replies.jsonl")]
    failed = [e for e in errors if e]
    return failed[-1].splitlines()[0][:300] if failed else None


def register(verbs: Any) -> None:
    run = verbs.add_parser(
        "run",
        help="evaluate one model on an item set",
        description="Generate replies, judge them against the checklist, score, and write result rows. "
        "Resumable: the same command again reuses every finished reply and judgement.",
    )
    run.add_argument(
        "--model",
        required=True,
        help="baseline:refusal | baseline:template | hf:ORG/NAME[@REV] | "
        "hf:/local/dir | vllm:ORG/NAME[@REV] | openai:MODEL | replay:FILE.jsonl (existing replies)",
    )
    run.add_argument("--set", required=True, help="item set: a JSONL path, public-sample, or NAME[@VERSION]")
    run.add_argument("--judge", action="append", help="judge spec (repeat for a panel); default: heuristic")
    run.add_argument("--base-url", help="OpenAI-compatible endpoint for an openai: model")
    run.add_argument("--judge-base-url", help="OpenAI-compatible endpoint for openai: judges")
    run.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the API key")
    run.add_argument("--judge-api-key-env", help="env var holding the judge's API key (default: --api-key-env)")
    run.add_argument("--concurrency", type=int, default=16, help="concurrent API requests (default 16)")
    run.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds")
    run.add_argument("--max-new-tokens", type=int, default=1024)
    run.add_argument("--temperature", type=float, default=0.0)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument(
        "--samples",
        type=int,
        default=1,
        help="replies per item, K (needs --temperature above 0): consistency across samples; "
        "sample k is seeded with --seed + k (default 1)",
    )
    run.add_argument("--system-prompt", help="no system prompt by default (the raw model)")
    run.add_argument(
        "--batch-size",
        type=_batch_size,
        default=0,
        help="hf: generation batch size, or auto (the default: the largest that fits on CUDA, 8 on CPU)",
    )
    run.add_argument("--device", help="hf: torch device (default: cuda if available, else cpu)")
    run.add_argument("--tensor-parallel-size", type=int, default=1, help="vllm: GPUs per model")
    run.add_argument("--no-detection", action="store_true", help="skip the crisis-detection prompt")
    run.add_argument("--bootstrap-rounds", type=int, default=1000, help=argparse.SUPPRESS)  # no effect since v3
    run.add_argument("--maintainer", action="store_true", help="act as a maintainer (replay: on a private set)")
    run.add_argument("--admin-token-file", help="a file holding the admin token (never the token itself in argv)")
    run.add_argument("--admin-token", help=argparse.SUPPRESS)  # refused with a message: visible in `ps`
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    add_store_arguments(run)
    run.set_defaults(func=cmd_run)
