"""`python -m evaluator audit`: check that no public artefact holds private item text."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from evaluator.audit import audit, save_audit_report
from evaluator.storage import DEFAULT_DATA_DIR, StoreError, add_store_arguments, store_from_args


def cmd_audit(args: argparse.Namespace) -> int:
    # On a Hub store this is the mirror: the public repos as published, and the private sets.
    store = store_from_args(args, writable=False)
    data = store.data
    if not data.root.is_dir():
        # Saving the report would create a mistyped --data directory and call it clean.
        raise StoreError(f"no data directory at {data.root} (pass --data DIR, default {DEFAULT_DATA_DIR})")
    report = audit(data, args.extra or ())
    if not args.no_save:
        saved = save_audit_report(store, report)
        if not store.read_only:
            store.push([saved.relative_to(data.root).as_posix()], "Secrecy audit report")
    if report.private_items == 0:
        sys.stderr.write(f"note: no private item text under {data.sets}; nothing to look for\n")
    if report.clean:
        print(f"audit clean: {report.files} public files checked against {report.private_items} private items")
        return 0
    for finding in report.findings:
        print(f"LEAK {finding.line()}")
    leaking = len({f.path for f in report.findings})
    sys.stderr.write(
        f"audit failed: {len(report.findings)} private items found in {leaking} public files "
        "(retire leaked items with `python -m evaluator sets retire NAME --ids ... --reason leaked`)\n"
    )
    return 1


def register(verbs: Any) -> None:
    p = verbs.add_parser(
        "audit",
        help="check that no public artefact holds private item text",
        description="Scan every public file of the data directory (requests, results, public/) and any --extra "
        "files (exported tables, saved page HTML, API responses, public logs) for the text of any private item, "
        "or a long overlap with it (runs of 8 words after normalising case, punctuation and spacing). "
        "Exit 1 naming the file and item id on a finding; exit 0 when clean.",
    )
    p.add_argument(
        "--extra", action="extend", nargs="+", metavar="PATH", help="more files or folders to scan (repeatable)"
    )
    p.add_argument("--no-save", action="store_true", help="do not save the report under <data>/logs/audit/")
    add_store_arguments(p)
    p.set_defaults(func=cmd_audit)
