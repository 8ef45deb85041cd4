"""`python -m leaderboard VERB`: print and export the public result rows.

    table    every result row (PROTOCOL section 8 columns), as CSV, JSON or Markdown
    ranking  the ranked one-row-per-model table of a board, as the Space shows it
    boards   the (set, version, judge) groups present, current first
    export   every result row to one Parquet (or CSV) file

Bad input gets one actionable line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evaluator.results import CONVERSATION, CONVERSATION_METRICS, SINGLE_TURN
from evaluator.storage import DEFAULT_DATA_DIR, StoreError, add_store_arguments, open_store, resolve_spec
from evaluator.wording import counted
from leaderboard.display import DEFAULT_COLUMNS, SORT_KEYS
from leaderboard.export import FORMATS, ordered_rows, render, write_parquet, write_text
from leaderboard.query import CATEGORY_CHOICES, SIGNAL_CHOICES, Filters, Leaderboard, QueryError
from leaderboard.store import LoadError, ResultStore

EXIT_OK, EXIT_USAGE = 0, 2


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def _store(args: argparse.Namespace) -> ResultStore:
    spec = resolve_spec(args.store, args.data)
    if spec.kind == "local" and not (spec.path and spec.path.is_dir()):
        raise UsageError(f"no data directory at {spec.path} (pass --data DIR, default {DEFAULT_DATA_DIR})")
    home = open_store(spec, writable=False)
    if home.status_line:
        sys.stderr.write(f"{home.status_line}\n")
    store = ResultStore(home.data, persist=False)
    problems = store.result_problems(force=True)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UsageError(f"cannot read result file {problems[0]}{more}; fix or remove it")
    return store


def _table(args: argparse.Namespace) -> int:
    store = _store(args)
    frame = store.results()
    if args.track:
        # Rows written before protocol version 3 carry no track: they measured single replies.
        tracks = frame["track"].fillna(SINGLE_TURN) if "track" in frame.columns else SINGLE_TURN
        frame = frame[tracks == args.track]
    rows = ordered_rows(frame, all_columns=args.all_columns)
    if args.track == CONVERSATION and not args.all_columns:
        rows = pd.concat([rows, ordered_rows(frame, all_columns=True)[list(CONVERSATION_METRICS)]], axis=1)
    _emit(render(rows, args.format))
    return EXIT_OK


def _ranking(args: argparse.Namespace) -> int:
    store = _store(args)
    board = Leaderboard(store, preferred_set=args.set)
    columns = tuple(args.columns.split(",")) if args.columns else DEFAULT_COLUMNS
    filters = Filters(
        board=args.board or "",
        category=args.category,
        signal=args.signal,
        search=args.search or "",
        show_baselines=not args.no_baselines,
        columns=columns,
        sort_by=args.sort_by,
        descending=args.descending,
        limit=args.limit,
    )
    result = board.query(filters)
    if result.board is None:
        raise UsageError(f"no result rows under {store.data.results}")
    frame = board.display(result.shown, result.filters.columns, markdown_models=False)
    sys.stderr.write(f"{result.board.label}: {result.matched} of {counted(result.total, 'model')}\n")
    _emit(render(frame, args.format))
    return EXIT_OK


def _boards(args: argparse.Namespace) -> int:
    store = _store(args)
    for board in Leaderboard(store).boards():
        _emit(f"{board.key}\t{board.label}\n")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    store = _store(args)
    out = Path(args.out)
    fmt = args.format or ("csv" if out.suffix == ".csv" else "parquet")
    if out.exists() and out.is_dir():
        raise UsageError(f"{out} is a directory; give a file name")
    frame = store.snapshot().results  # the public download's rows: hidden models left out
    if fmt == "parquet":
        write_parquet(frame, out)
    else:
        write_text(render(ordered_rows(frame, all_columns=True), "csv"), out)
    sys.stderr.write(f"wrote {counted(len(frame), 'result row')} to {out}\n")
    return EXIT_OK


def _emit(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head` is a normal way to read a long table
        sys.stderr.close()
        raise SystemExit(EXIT_OK) from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m leaderboard", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        add_store_arguments(p)

    table = verbs.add_parser("table", help="print every result row", description="Print every result row.")
    common(table)
    table.add_argument("--format", choices=FORMATS, default="markdown", help="output format (default markdown)")
    table.add_argument(
        "--all-columns",
        action="store_true",
        help="every column present, not only those PROTOCOL section 8 names (every version's, by default)",
    )
    table.add_argument(
        "--track",
        choices=(SINGLE_TURN, CONVERSATION),
        help="only rows of this track (conversation rows also get the conversation columns)",
    )
    table.set_defaults(run=_table)

    ranking = verbs.add_parser("ranking", help="print the ranked table of a board", description="The ranked table.")
    common(ranking)
    ranking.add_argument("--board", help="board key as printed by `boards` (default: the current board)")
    ranking.add_argument("--set", help="prefer this set name when choosing the current board")
    ranking.add_argument("--category", choices=CATEGORY_CHOICES, default="overall")
    ranking.add_argument("--signal", choices=SIGNAL_CHOICES, default="all")
    ranking.add_argument("--search", help="model name terms; ';' separates alternatives")
    ranking.add_argument("--no-baselines", action="store_true", help="hide the baseline reference rows")
    ranking.add_argument("--columns", help=f"comma-separated columns (default {','.join(DEFAULT_COLUMNS)})")
    ranking.add_argument("--sort-by", choices=SORT_KEYS, default="rank")
    ranking.add_argument("--descending", action="store_true")
    ranking.add_argument("--limit", type=int, default=0, help="rows to print (default 0: all)")
    ranking.add_argument("--format", choices=FORMATS, default="markdown")
    ranking.set_defaults(run=_ranking)

    boards = verbs.add_parser("boards", help="list the set/version/judge boards", description="List the boards.")
    common(boards)
    boards.set_defaults(run=_boards)

    export = verbs.add_parser("export", help="write every result row to a file", description="Export all rows.")
    common(export)
    export.add_argument("--out", required=True, help="output file (.parquet or .csv)")
    export.add_argument("--format", choices=("parquet", "csv"), help="default: from the file name, else parquet")
    export.set_defaults(run=_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (UsageError, QueryError, LoadError, StoreError) as exc:
        # Where the valid values are listed: board keys by `boards`, the rest by --help.
        hint = ""
        if isinstance(exc, QueryError):
            hint = " (python -m leaderboard boards lists them)" if "board" in str(exc) else " (see --help)"
        sys.stderr.write(f"python -m leaderboard {args.verb}: error: {exc}{hint}\n")
        return EXIT_USAGE
    except OSError as exc:
        sys.stderr.write(f"python -m leaderboard {args.verb}: error: {exc.strerror or exc}: {exc.filename or ''}\n")
        return EXIT_USAGE
