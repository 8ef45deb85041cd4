"""`python -m evaluator rejudge RUN --judge SPEC` and `rescore RUN`: the pipeline's stages on a
finished run (issue 19)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from evaluator.backends import BackendOptions
from evaluator.catalog import resolve_set
from evaluator.cli.common import EXIT_INCOMPLETE, EXIT_OK, UsageError, summary_table
from evaluator.items import ItemSet, ItemSetError
from evaluator.pipeline import RunOutcome, check_run_id, finished_run, rejudge, rescore
from evaluator.storage import DataDir, RunSink, Store, add_store_arguments, store_from_args


def register(verbs: Any) -> None:
    """`rejudge RUN --judge SPEC` and `rescore RUN`: the pipeline's stages on a finished run."""
    rej = verbs.add_parser(
        "rejudge",
        help="judge a finished run's replies with other judges (no generation)",
        description="Judge the replies a finished run stored with other judges, generating nothing. "
        "The new run is the one a full run with those judges would make: the same run id and rows "
        "(bar evaluated_at). Resumable like run.",
    )
    rej.add_argument("run", metavar="RUN", help="the run id (16 hex digits, as run prints)")
    rej.add_argument("--judge", action="append", required=True, help="judge spec (repeat for a panel)")
    rej.add_argument("--judge-base-url", help="OpenAI-compatible endpoint for openai: judges")
    rej.add_argument("--judge-api-key-env", default="OPENAI_API_KEY", help="env var holding the judge's API key")
    rej.add_argument("--concurrency", type=int, default=16, help="concurrent API requests (default 16)")
    rej.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds")
    rej.add_argument("--device", help="hf: judges: torch device (default: cuda if available, else cpu)")
    rej.add_argument("--set", help="the run's item set, if not NAME@VERSION under the data directory")
    rej.add_argument("--quiet", action="store_true", help="no progress bars")
    add_store_arguments(rej)
    rej.set_defaults(func=cmd_rejudge)

    res = verbs.add_parser(
        "rescore",
        help="score and publish a finished run again from its record (no model or judge call)",
        description="Rebuild a complete run's result rows from its stored replies and judgements and write "
        "results/RUN.parquet again (after the secrecy audit). Calls no model and no judge.",
    )
    res.add_argument("run", metavar="RUN", help="the run id (16 hex digits, as run prints)")
    res.add_argument("--set", help="the run's item set, if not NAME@VERSION under the data directory")
    res.add_argument("--quiet", action="store_true", help="print only the result file")
    add_store_arguments(res)
    res.set_defaults(func=cmd_rescore)


def _finished(store: Store, args: argparse.Namespace) -> tuple[DataDir, ItemSet]:
    """The data directory (the run pulled from a Hub store) and the run's item set."""
    data = store.data
    run_id = check_run_id(str(args.run))  # before anything is pulled or read
    store.pull(f"runs/{run_id}/")
    _, spec = finished_run(data, run_id)
    name, version = spec["set"]["name"], spec["set"]["version"]
    value = args.set or ("public-sample" if name == "public-sample" else f"{name}@{version}")
    try:
        return data, resolve_set(value, data)
    except ItemSetError:
        if args.set:
            raise
        raise UsageError(
            f"run {run_id} ran on set {name}@{version}, which is not under {data.sets}: pass --set with its file"
        ) from None


def _report(outcome: RunOutcome, data: DataDir, what: str, quiet: bool = False) -> int:
    if not outcome.complete:
        sys.stderr.write(f"run {outcome.run_id} {outcome.status}: {outcome.reason}\n")
        return EXIT_INCOMPLETE
    if not quiet:
        print(f"run {outcome.run_id}: {what}")
        print(summary_table(outcome.rows))
        print()
    print(f"result rows: {outcome.result_file}")
    return EXIT_OK


def _settle(sink: RunSink, outcome: RunOutcome) -> None:
    """A complete run's files committed through its sink (all of them, or StoreUnavailable);
    an unfinished one's run directory, best effort."""
    if outcome.complete:
        sink.publish()
    else:
        sink.save(outcome.status)


def cmd_rejudge(args: argparse.Namespace) -> int:
    store = store_from_args(args)
    data, item_set = _finished(store, args)
    options = BackendOptions(
        base_url=args.judge_base_url,
        api_key_env=args.judge_api_key_env,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        device=args.device,
    )
    sink = RunSink(store)
    outcome = rejudge(data, args.run, item_set, args.judge, judge_options=options, progress=not args.quiet, sink=sink)
    _settle(sink, outcome)
    return _report(outcome, data, f"{args.run} judged again by {'+'.join(args.judge)}")


def cmd_rescore(args: argparse.Namespace) -> int:
    store = store_from_args(args)
    data, item_set = _finished(store, args)
    sink = RunSink(store)
    outcome = rescore(data, args.run, item_set, sink=sink)
    _settle(sink, outcome)
    return _report(outcome, data, "scored again from its record", quiet=args.quiet)
