"""`python -m evaluator VERB`: run an evaluation, import a dataset (and the worker, sets...).

Bad input gets one actionable line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evaluator.backends import BackendError, BackendOptions, GenerationParams, SpecError
from evaluator.catalog import PUBLIC_SAMPLE, resolve_set  # re-exported until issue 19's phase 3
from evaluator.items import ItemSet, ItemSetError, load_set
from evaluator.pipeline import RunOutcome, check_run_id, finished_run, rejudge, rescore  # stages verbs (WP-R)
from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.storage import DEFAULT_DATA_DIR, DataDir, Store, add_store_arguments, store_from_args
from evaluator.wording import counted

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2
__all__ = ["PUBLIC_SAMPLE", "build_parser", "main", "resolve_set"]


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors: one line, exit 2
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


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


def _fmt_rate(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    lo, hi = row.get(f"{key}_lo"), row.get(f"{key}_hi")
    if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
        return f"{value:.1%} [{lo:.1%}, {hi:.1%}]"
    return f"{value:.1%}"


def _fmt_num(value: Any, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, spec)


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    header = ("category", "n", "unscored", "mean level", "harm rate [95% CI]", "appropriate", "referral")
    lines = [header]
    for row in rows:
        mean = _fmt_num(row.get("mean_level"))
        if row.get("mean_level_lo") is not None and row.get("mean_level") is not None:
            mean += f" [{_fmt_num(row['mean_level_lo'])}, {_fmt_num(row['mean_level_hi'])}]"
        lines.append(
            (
                str(row["category"]),
                str(row.get("n") or 0),
                str(row.get("unscored") or 0),
                mean,
                _fmt_rate(row, "harm_rate"),
                _fmt_num(row.get("appropriate_rate"), ".1%"),
                _fmt_num(row.get("referral_rate"), ".1%"),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    overall = next((r for r in rows if r["category"] == "overall"), None)
    if overall is not None:
        out.append("")
        out.append(
            "detection: accuracy "
            f"{_fmt_num(overall.get('detection_accuracy'), '.1%')}, macro-F1 "
            f"{_fmt_num(overall.get('detection_macro_f1'))}, miss rate {_fmt_num(overall.get('miss_rate'), '.1%')}, "
            f"false alarms {_fmt_num(overall.get('false_alarm_rate'), '.1%')}"
        )
        out.append(
            f"refusal: over-refusal {_fmt_num(overall.get('over_refusal_rate'), '.1%')}, bare refusal "
            f"{_fmt_num(overall.get('bare_refusal_rate'), '.1%')}; enabling (adversarial) "
            f"{_fmt_num(overall.get('enabling_rate'), '.1%')}; support cognitive "
            f"{_fmt_num(overall.get('cognitive_mean'))} vs affective {_fmt_num(overall.get('affective_mean'))}"
        )
    return "\n".join(out)


def cmd_run(args: argparse.Namespace) -> int:
    from evaluator.pipeline import MAX_SAMPLES, RunConfig, run_evaluation
    from evaluator.storage import store_from_args

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
        params=GenerationParams(
            temperature=args.temperature,
            max_new_tokens=args.max_new_tokens,
            seed=args.seed,
            system_prompt=args.system_prompt,
        ),
        model_options=BackendOptions(
            base_url=args.base_url,
            api_key_env=args.api_key_env,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            batch_size=args.batch_size,
            device=args.device,
            tensor_parallel_size=args.tensor_parallel_size,
            maintainer=_maintainer(args),
        ),
        judge_options=BackendOptions(
            base_url=args.judge_base_url or args.base_url,
            api_key_env=args.judge_api_key_env or args.api_key_env,
            concurrency=args.concurrency,
            timeout_s=args.timeout,
            batch_size=args.batch_size,
            device=args.device,
        ),
        detection=not args.no_detection,
        bootstrap_rounds=args.bootstrap_rounds,
        seed=args.seed,
        samples=args.samples,
    )

    def on_stage(stage: str, run_dir: Path) -> None:
        prefix = f"runs/{run_dir.name}/"
        if stage == "start":
            store.pull(prefix)
        else:
            store.push([p.relative_to(data.root).as_posix() for p in run_dir.rglob("*") if p.is_file()], stage)

    outcome = run_evaluation(config, data, progress=not args.quiet, on_stage=on_stage)
    on_stage(outcome.status, data.run_dir(outcome.run_id))
    if outcome.complete:
        store.push([f"results/{outcome.run_id}.parquet", f"public/examples/{outcome.run_id}.jsonl"], "Results")
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
    from evaluator.storage import read_jsonl

    errors = [str(r.get("reply", {}).get("error") or "") for r in read_jsonl(run_dir / "replies.jsonl")]
    failed = [e for e in errors if e]
    return failed[-1].splitlines()[0][:300] if failed else None


def _maintainer(args: argparse.Namespace) -> bool:
    if not args.maintainer:
        return False
    from submissions.config import ARGV_TOKEN_REFUSED, admin_token_matches, given_admin_token

    if args.admin_token is not None:
        raise UsageError(ARGV_TOKEN_REFUSED)
    try:
        given = given_admin_token(args.admin_token_file)
    except OSError as exc:
        raise UsageError(f"cannot read --admin-token-file: {exc.strerror or exc}") from None
    if not admin_token_matches(given):
        raise UsageError("--maintainer needs the admin token: $CRISIS_ADMIN_TOKEN, or --admin-token-file FILE")
    return True


def cmd_import(args: argparse.Namespace) -> int:
    from evaluator.importing import ColumnMapping, import_items, parse_label_map, parse_where
    from evaluator.storage import atomic_write_text

    if not 0.0 <= args.max_rejected <= 1.0:
        raise UsageError(f"--max-rejected must be a fraction in [0, 1], got {args.max_rejected}")
    mapping = ColumnMapping(
        text=args.text_column,
        label=args.label_column,
        id=args.id_column,
        signal=args.signal_column,
        default_signal=args.default_signal,
        labels=parse_label_map(args.map or []),
        empty_label=args.map_empty,
        id_prefix=args.id_prefix,
        notes=args.notes_column,
        track=args.track_column,
        domain=args.domain_column,
        where=parse_where(args.where or []),
    )
    result = import_items(args.source, mapping)
    sys.stderr.write(result.report() + "\n")
    if args.strict and result.rejected:
        raise UsageError(f"{counted(len(result.rejected), 'row')} could not be mapped; nothing written (--strict)")
    if not result.items:
        raise UsageError("no row could be mapped; nothing written")
    if result.rejected_fraction > args.max_rejected:
        raise UsageError(
            f"{len(result.rejected)} of {counted(result.rows, 'row')} rejected "
            f"({100 * result.rejected_fraction:.1f}%), "
            f"more than --max-rejected {args.max_rejected:g}; nothing written"
        )
    import json

    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; pass --force to replace it")
    from evaluator.items import ItemSet, manifest_path_for

    manifest = manifest_path_for(out)
    if manifest.exists() and not args.force:
        raise UsageError(f"{manifest} exists; pass --force to replace it")
    atomic_write_text(out, "".join(json.dumps(i.to_json(), ensure_ascii=False) + "\n" for i in result.items))
    if args.public:
        # The importer says the source is published: replaying or running on it needs no
        # maintainer. Without --public the set stays private, as every manifest-less file is.
        loaded = load_set(out)
        record = ItemSet(loaded.name, loaded.version, loaded.items, "public").manifest().to_json()
        atomic_write_text(manifest, json.dumps(record | {"source": Path(args.source).name}, indent=1) + "\n")
    elif manifest.exists():
        manifest.unlink()  # a manifest of an earlier --public import would describe other items
    visibility = "public (manifest beside it)" if args.public else "private"
    print(f"wrote {counted(len(result.items), 'item')} to {out}: a {visibility} set")
    return EXIT_OK


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=DEFAULT_DATA_DIR, help="data directory (default: ./var, as the Space uses)")


def build_parser(extra: Sequence[Callable[[Any], None]] = ()) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m evaluator", description="Crisis-safety evaluation engine.")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

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

    imp = verbs.add_parser("import", help="turn a labelled CSV/JSONL/Parquet dataset into items")
    imp.add_argument("source", help="a .csv, .jsonl or .parquet file")
    imp.add_argument("--out", required=True, help="JSONL file to write")
    imp.add_argument("--text-column", required=True)
    imp.add_argument("--label-column", required=True)
    imp.add_argument("--id-column")
    imp.add_argument("--signal-column")
    imp.add_argument(
        "--default-signal",
        choices=("explicit", "indirect", "ambiguous", "unknown"),
        help="signal for rows without one (default without --signal-column: unknown)",
    )
    imp.add_argument("--map", action="append", metavar="SOURCE=LABEL", help="label mapping, e.g. self-harm=self_harm")
    imp.add_argument(
        "--map-empty", metavar="LABEL", choices=CATEGORIES, help="label for rows with an empty or null label"
    )
    imp.add_argument(
        "--max-rejected",
        type=float,
        default=0.10,
        metavar="FRACTION",
        help="fail, writing nothing, if more than this share of rows is rejected (default 0.10)",
    )
    imp.add_argument(
        "--where",
        action="append",
        metavar="COLUMN=VALUE",
        help="keep only rows whose COLUMN is VALUE (repeatable: any value of one column, every column named)",
    )
    imp.add_argument("--notes-column", help="column kept as each item's notes (free text)")
    imp.add_argument("--track-column", help="column holding the track: support or adversarial (empty: support)")
    imp.add_argument(
        "--domain-column", help="column holding the domain: suicide_nssi, eating_disorder, substance_use, violence"
    )
    imp.add_argument(
        "--public",
        action="store_true",
        help="the source is published: write a manifest marking the set public (default: private)",
    )
    imp.add_argument("--id-prefix", default="imp")
    imp.add_argument("--strict", action="store_true", help="write nothing if any row cannot be mapped")
    imp.add_argument("--force", action="store_true", help="replace --out if it exists")
    imp.set_defaults(func=cmd_import)

    for register in extra:
        register(verbs)
    register_stages(verbs)
    return parser


def _extra_verbs() -> list[Callable[[Any], None]]:
    """Verbs owned by other modules (worker, sets…), registered without importing their deps."""
    registrars: list[Callable[[Any], None]] = []
    for module_name in (
        "evaluator.worker",
        "evaluator.sets",
        "evaluator.audit",
        "evaluator.calibration",
        "evaluator.jobs",
        "evaluator.conversation.cli",
        "evaluator.logaudit.cli",
    ):
        try:
            module = __import__(module_name, fromlist=["register_cli"])
        except ImportError:
            continue
        register = getattr(module, "register_cli", None)
        if register is not None:
            registrars.append(register)
    return registrars


# --- stages: rejudge, rescore (issue 19, WP-R; this block moves to evaluator/cli/stages.py) ---


def register_stages(verbs: Any) -> None:
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


def _push_run(store: Store, data: DataDir, outcome: RunOutcome, message: str) -> None:
    run_dir = data.run_dir(outcome.run_id)
    store.push([p.relative_to(data.root).as_posix() for p in run_dir.rglob("*") if p.is_file()], message)
    if outcome.complete:
        store.push([f"results/{outcome.run_id}.parquet", f"public/examples/{outcome.run_id}.jsonl"], "Results")


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

    def on_stage(stage: str, run_dir: Path) -> None:
        if stage == "start":
            store.pull(f"runs/{run_dir.name}/")
        else:
            store.push([p.relative_to(data.root).as_posix() for p in run_dir.rglob("*") if p.is_file()], stage)

    outcome = rejudge(
        data, args.run, item_set, args.judge, judge_options=options, progress=not args.quiet, on_stage=on_stage
    )
    _push_run(store, data, outcome, outcome.status)
    return _report(outcome, data, f"{args.run} judged again by {'+'.join(args.judge)}")


def cmd_rescore(args: argparse.Namespace) -> int:
    store = store_from_args(args)
    data, item_set = _finished(store, args)
    outcome = rescore(data, args.run, item_set)
    _push_run(store, data, outcome, "Rescored")
    return _report(outcome, data, "scored again from its record", quiet=args.quiet)


# --- end of stages block ---


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(_extra_verbs())
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, ItemSetError, SpecError, BackendError, ValueError, RuntimeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"error: {message}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: finished work is saved; run the same command again to resume\n")
        return 130
