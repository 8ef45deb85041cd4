"""`python -m evaluator VERB`: the commands layer of the evaluator, one module per verb group.

Bad input gets one actionable line on stderr and exit code 2, never a traceback; Ctrl-C exits 130
with finished work saved. Domain modules (pipeline, worker, sets, ...) expose functions and
return values; the argparse code and what the terminal shows live here.

Verbs are registered explicitly, in `--help` order: a group whose module fails to import fails
`python -m evaluator` loudly instead of silently losing its verbs. To add a verb, write
`evaluator/cli/<group>.py` with `register(verbs)` and add the module to GROUPS.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from evaluator.backends import BackendError, SpecError
from evaluator.cli import (
    audit,
    audit_logs,
    calibrate,
    converse,
    dataset,
    jobs,
    run,
    sets,
    stages,
    worker,
)
from evaluator.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, Parser, UsageError
from evaluator.items import ItemSetError

# The verb groups, in the order `python -m evaluator --help` lists their verbs.
GROUPS = (run, dataset, worker, sets, audit, calibrate, jobs, converse, audit_logs, stages)

__all__ = ["GROUPS", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m evaluator", description="Crisis-safety evaluation engine.")
    verbs = parser.add_subparsers(dest="verb", required=True, parser_class=Parser)
    for group in GROUPS:
        group.register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, ItemSetError, SpecError, BackendError, ValueError, RuntimeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"error: {message}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: finished work is saved; run the same command again to resume\n")
        return EXIT_INTERRUPTED
