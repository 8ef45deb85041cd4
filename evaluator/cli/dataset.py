"""`python -m evaluator import`: turn a labelled CSV/JSONL/Parquet dataset into items."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from evaluator.cli.common import EXIT_OK, UsageError
from evaluator.importing import ColumnMapping, import_items, parse_label_map, parse_where
from evaluator.items import ItemSet, load_set, manifest_path_for
from evaluator.protocol.taxonomy import CATEGORIES
from evaluator.storage import atomic_write_text
from evaluator.wording import counted


def cmd_import(args: argparse.Namespace) -> int:
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
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; pass --force to replace it")
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


def register(verbs: Any) -> None:
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
