"""`python -m evaluator sets list|show|add|retire|freeze|diff`: held-out set versions and rotation
(evaluator.sets; re-queueing after a cut: submissions.requeue), and the rotation verbs of persona
sets, `personas retire|diff` (registered beside `converse` in evaluator/cli/converse.py), which
print the same way: ids, reasons and counts, never a record's text."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from evaluator.catalog import (
    RotationError,
    latest_version,
    list_versions,
    listed,
    load_version,
    retired_path,
    set_names,
    version_manifest,
)
from evaluator.cli.common import add_data
from evaluator.conversation.persona import DISCLOSURES, RISKS
from evaluator.conversation.persona_sets import PersonaCut, diff_personas, retire_personas
from evaluator.protocol.taxonomy import AGE_GROUPS, CATEGORIES, SIGNALS, TRACKS
from evaluator.sets import (
    DEFAULT_MIN_PER_CATEGORY,
    DEFAULT_REASON,
    DEFAULT_TOLERANCE,
    DRAFT,
    REVEAL_ENV,
    SetDiff,
    add_items,
    cut_version,
    diff_versions,
    load_draft,
    retire_items,
)
from evaluator.sets.drafts import items_at, require_set
from evaluator.storage import DataDir
from evaluator.wording import counted, text_table
from submissions.requeue import cut_and_requeue, requeue_after_persona_cut


def _counts_table(counts: Mapping[str, Counter[str]], support: Counter[str], adversarial: Counter[str]) -> str:
    lines = [("category", "items", "support", "adversarial")]
    for category in CATEGORIES:
        lines.append((category, str(counts["category"][category]), str(support[category]), str(adversarial[category])))
    out = text_table(lines, figures_right=True)
    shown = (*SIGNALS, "unknown") if counts["signal"]["unknown"] else SIGNALS  # imported data without signals
    out.append("signal: " + ", ".join(f"{s} {counts['signal'][s]}" for s in shown))
    out.append("track: " + ", ".join(f"{t} {counts['track'][t]}" for t in TRACKS))
    return "\n".join(out)


def _split_ref(ref: str) -> tuple[str, str | None]:
    name, _, version = ref.partition("@")
    return name, version or None


def cmd_list(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    names = set_names(data)
    if not names:
        print(f"no sets under {data.sets}")
        return 0
    for name in names:
        versions = list_versions(data, name)
        latest = versions[-1] if versions else None
        size = len(load_version(data, name, latest).items) if latest else 0
        line = f"{name}: {len(versions)} version{'' if len(versions) == 1 else 's'}"
        line += f", latest {latest} ({counted(size, 'item')})" if latest else " (none frozen yet)"
        draft = load_draft(data, name)
        if draft.saved:
            base = {i.id for i in load_version(data, name, latest).items} if latest else set()
            line += f"; draft: +{len(draft.ids - base)} added, -{len(base - draft.ids)} retired, not frozen"
        print(line)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    name, version = _split_ref(args.name)
    require_set(data, name)
    if args.reveal and os.environ.get(REVEAL_ENV) != "1":
        raise RotationError(
            f"--reveal prints private item text; it is refused unless {REVEAL_ENV}=1 is set on a maintainer's machine"
        )
    version = version or latest_version(data, name) or DRAFT
    item_set = items_at(data, name, version)
    support = Counter(i.category for i in item_set.items if i.track == "support")
    adversarial = Counter(i.category for i in item_set.items if i.track == "adversarial")
    if version == DRAFT:
        items = counted(len(item_set.items), "item")
        print(f"{name} draft (private, not frozen): {items}, content hash {item_set.content_hash}")
    else:
        meta = version_manifest(data, name, version)
        print(
            f"{name} {version} ({meta.get('visibility', 'private')}): {counted(len(item_set.items), 'item')}, "
            f"content hash {item_set.content_hash}, cut {meta.get('created_at', '?')}"
        )
        log = meta.get("changelog") or {}
        if meta.get("previous"):
            print(
                f"changes since {meta['previous']}: +{len(log.get('added', []))} added, "
                f"-{len(log.get('retired', []))} retired"
            )
        draft = load_draft(data, name)
        if draft.saved and version == latest_version(data, name):
            base = {i.id for i in item_set.items}
            print(f"pending in the draft: +{len(draft.ids - base)} added, -{len(base - draft.ids)} retired")
    print()
    print(_counts_table(item_set.counts(), support, adversarial))
    if args.reveal:
        print()
        for item in item_set.items:
            print(json.dumps(item.to_json(), ensure_ascii=False))
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    result = add_items(data, args.name, args.source)
    for match in result.skipped:
        print(f"skipped {match.new_id}: exact duplicate of {match.existing_id} ({match.existing_status})")
    for match in result.near:
        print(
            f"check {match.new_id}: near-duplicate of {match.existing_id} "
            f"({match.existing_status}, similarity {match.similarity:.2f})"
        )
    added = counted(len(result.added), "item")
    print(f"added {added} to the draft of {args.name}; `sets freeze {args.name}` cuts a version")
    return 0


def cmd_retire(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    result = retire_items(
        data,
        args.name,
        ids=args.ids,
        category=args.category,
        count=args.count,
        seed=args.seed,
        reason=args.reason,
    )
    retired = counted(len(result.retired), "item")
    print(f"retired {retired} from the draft of {args.name}: {listed(result.retired, 20)}")
    print(
        f"they will be published in {retired_path(data, args.name)} when the next version is cut "
        f"(`sets freeze {args.name}`)"
    )
    if result.below_minimum:
        sys.stderr.write(
            f"warning: below {DEFAULT_MIN_PER_CATEGORY} support items now: {', '.join(result.below_minimum)}; "
            "add items before freezing\n"
        )
    return 0


def _fraction(text: str) -> float:
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a fraction: {text!r} (e.g. 0.05 or 5%)") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is outside 0-1")
    return value


def cmd_freeze(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    if args.no_requeue:
        result = cut_version(data, args.name, min_per_category=args.min_per_category, tolerance=args.tolerance)
    else:
        result = cut_and_requeue(data, args.name, min_per_category=args.min_per_category, tolerance=args.tolerance)
    since = f" since {result.previous}" if result.previous else ""
    print(
        f"cut {args.name} {result.version}: {counted(result.items, 'item')}, +{len(result.added)} added, "
        f"-{len(result.retired)} retired{since}"
    )
    if result.published:
        print(f"published {counted(result.published, 'retired item')} in {retired_path(data, args.name)}")
    report = result.requeue
    if report is not None:
        print(
            f"re-evaluation queued for {counted(len(report.queued), 'model')} finished on {result.previous}"
            + (f", {len(report.skipped)} already queued" if report.skipped else "")
        )
        for model, error in report.failed:
            sys.stderr.write(f"warning: could not queue {model}: {error}\n")
    return 0


def _print_counts_diff(diff: SetDiff, field: str = "category", values: Sequence[str] = CATEGORIES) -> None:
    rows = [(field, diff.old, diff.new, "change")]
    for value in values:
        a, b = diff.counts_old[field][value], diff.counts_new[field][value]
        rows.append((value, str(a), str(b), f"{b - a:+d}"))
    print("\n".join(text_table(rows, figures_right=True)))


def print_diff(diff: SetDiff, counts: Mapping[str, Sequence[str]]) -> None:
    """A diff of any kind of set: ids added, retired (with reasons) and changed, then a table of
    counts per value of each field in `counts`."""
    changed = f", {len(diff.changed)} changed" if diff.changed else ""
    print(f"{diff.name} {diff.old} -> {diff.new}: +{len(diff.added)} added, -{len(diff.retired)} retired{changed}")
    if diff.added:
        print("added: " + ", ".join(diff.added))
    for entry in diff.retired:
        print(f"retired: {entry['id']}" + (f" ({entry['reason']})" if entry["reason"] else ""))
    if diff.changed:
        print("changed: " + ", ".join(diff.changed))
    for field, values in counts.items():
        print()
        _print_counts_diff(diff, field, values)


def cmd_diff(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    print_diff(diff_versions(data, args.name, args.old, args.new), {"category": CATEGORIES})
    return 0


# ---------------------------------------------------------------- persona sets (`personas ...`)

PERSONA_COUNTS: dict[str, Sequence[str]] = {
    "category": CATEGORIES,
    "risk": RISKS,
    "disclosure": DISCLOSURES,
    "age_group": AGE_GROUPS,
}


def print_persona_cut(result: PersonaCut) -> None:
    cut = result.set
    if not result.cut:
        print(f"nothing to freeze: the file equals {cut.name} {cut.version}")
        return
    since = f", +{len(result.added)} added, -{len(result.retired)} retired since {result.previous}"
    print(
        f"{cut.name} {cut.version}: {counted(len(cut.personas), 'persona')} ({cut.visibility}), "
        f"content hash {cut.content_hash}" + (since if result.previous else "")
    )
    for match in result.near:
        print(
            f"check {match.new_id}: near-duplicate of {match.existing_id} "
            f"({match.existing_status}, similarity {match.similarity:.2f})"
        )


def requeue_persona_cut(data: DataDir, result: PersonaCut, no_requeue: bool) -> None:
    """After a persona version is cut, as `sets freeze` after an item set's: every model whose
    conversations ran on the previous version is queued for the conversation track only on the
    new one (submissions.requeue), unless --no-requeue. Failures are warnings: the cut stands."""
    if no_requeue or not result.cut or result.previous is None:
        return
    report = requeue_after_persona_cut(data, result.set.name, result.previous, result.version)
    print(
        f"conversation re-evaluation queued for {counted(len(report.queued), 'model')} finished on {result.previous}"
        + (f", {len(report.skipped)} already queued" if report.skipped else "")
    )
    for model, error in report.failed:
        sys.stderr.write(f"warning: could not queue {model}: {error}\n")


def cmd_personas_retire(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    result = retire_personas(
        data, args.name, ids=args.ids, category=args.category, count=args.count, seed=args.seed, reason=args.reason
    )
    print(f"retired {counted(len(result.retired), 'persona')} from {args.name}: {listed(result.retired, 20)}")
    print_persona_cut(result)
    if not result.set.is_public:
        print("retired personas of a private set stay private (PROTOCOL section 9); nothing was published")
    requeue_persona_cut(data, result, args.no_requeue)
    return 0


def cmd_personas_diff(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data)
    print_diff(diff_personas(data, args.name, args.old, args.new), PERSONA_COUNTS)
    return 0


def _retire_arguments(p: argparse.ArgumentParser, records: str, reason_goes: str) -> None:
    """The arguments of `retire`, for items and personas alike: ids, or a seeded category draw."""
    p.add_argument("name")
    p.add_argument("--ids", nargs="+", metavar="ID", help=f"the {records} to retire (e.g. leaked ones)")
    p.add_argument("--category", choices=CATEGORIES, help="retire a random draw from this category (rotation)")
    p.add_argument("--count", type=int, help="how many to draw")
    p.add_argument("--seed", type=int, help="seed of the draw, so it can be reproduced")
    p.add_argument("--reason", help=f"why, {reason_goes} (default: {DEFAULT_REASON})")
    add_data(p)


def add_no_requeue(p: argparse.ArgumentParser, what: str = "of finished models") -> None:
    p.add_argument("--no-requeue", action="store_true", help=f"do not queue re-evaluation {what}")


def register_persona_rotation(actions: Any) -> None:
    """`personas retire` and `personas diff`, added to the `personas` verbs."""
    p = actions.add_parser("retire", help="cut a new version without the given personas, with a reason")
    _retire_arguments(p, "personas", "kept in the version's changelog")
    add_no_requeue(p, "of finished models' conversations")
    p.set_defaults(func=cmd_personas_retire)

    p = actions.add_parser("diff", help="ids added, retired and changed between two versions, and counts")
    p.add_argument("name")
    p.add_argument("old", metavar="V1")
    p.add_argument("new", metavar="V2")
    add_data(p)
    p.set_defaults(func=cmd_personas_diff)


def register(verbs: Any) -> None:
    sets = verbs.add_parser(
        "sets",
        help="held-out set versions and rotation",
        description="Maintain private item sets under <data>/sets: add items to a draft, retire items, freeze the "
        "draft as a new version, compare versions. Item text is never printed, except `show --reveal` with "
        f"{REVEAL_ENV}=1.",
    )
    actions = sets.add_subparsers(dest="sets_verb", required=True, parser_class=type(sets))

    p = actions.add_parser("list", help="every set, its versions and pending draft changes")
    add_data(p)
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("show", help="counts per category, signal and track (no item text)")
    p.add_argument("name", help="NAME (latest version), NAME@VERSION, or NAME@draft")
    p.add_argument(
        "--reveal",
        action="store_true",
        help=f"also print the items; only where {REVEAL_ENV}=1 (a maintainer's machine)",
    )
    add_data(p)
    p.set_defaults(func=cmd_show)

    p = actions.add_parser("add", help="add validated items to the draft, reporting duplicates by id")
    p.add_argument("name")
    p.add_argument("--from", dest="source", required=True, metavar="FILE", help="JSONL items (PROTOCOL section 3)")
    add_data(p)
    p.set_defaults(func=cmd_add)

    p = actions.add_parser("retire", help="take items out of the draft, with a reason")
    _retire_arguments(p, "items", "published with the items")
    p.set_defaults(func=cmd_retire)

    p = actions.add_parser("freeze", help="cut the draft as a new version and queue re-evaluations")
    p.add_argument("name")
    p.add_argument(
        "--min-per-category",
        type=int,
        default=DEFAULT_MIN_PER_CATEGORY,
        help=f"support items each crisis category needs (default {DEFAULT_MIN_PER_CATEGORY})",
    )
    p.add_argument(
        "--tolerance",
        type=_fraction,
        default=DEFAULT_TOLERANCE,
        help="largest change of a category's share of the set since the previous version "
        f"(default {DEFAULT_TOLERANCE}, i.e. 5 points)",
    )
    add_no_requeue(p)
    add_data(p)
    p.set_defaults(func=cmd_freeze)

    p = actions.add_parser("diff", help="ids added and retired between two versions (or a version and the draft)")
    p.add_argument("name")
    p.add_argument("old", metavar="V1")
    p.add_argument("new", metavar="V2", help="a version, or 'draft'")
    add_data(p)
    p.set_defaults(func=cmd_diff)
