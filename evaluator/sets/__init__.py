"""Held-out set versions and rotation (issue 5; PROTOCOL.md section 3).

Layout under <data>/sets/NAME/ (private):

    draft.jsonl, draft.json   the working draft: items after pending adds and retirements,
                              and the reasons given for each retirement. Absent when the
                              draft equals the latest version.
    v0001/items.jsonl         a frozen version, never edited again (its manifest carries the
    v0001/manifest.json       content hash, so an edit is caught when the set is loaded)

Where things are, set names and the order of versions: evaluator.catalog. Here: the draft
(`drafts`), near-duplicates (`duplicates`), retiring and cutting versions (`versioning`),
publishing retired items (`retired`) and comparing versions (`diff`). Persona sets (PROTOCOL
section 9) go through the same near-duplicate index, retirement draw and diff, with their own
text and counts: evaluator.conversation.persona_sets. Re-queueing the models
finished on the previous version after a cut is the queue's: submissions.requeue. Which version
the leaderboard ranks on: leaderboard.versions.

Nothing here prints or logs item text, except `sets show --reveal` on a machine that says it
is a maintainer's (CRISIS_MAINTAINER_MACHINE=1). The `sets` verbs: evaluator/cli/sets.py.
"""

from __future__ import annotations

from typing import Final

from evaluator.catalog import (
    RotationError,
    check_name,
    latest_version,
    list_versions,
    load_version,
    retired_path,
    set_names,
    set_root,
    version_manifest,
    version_name,
    version_number,
)
from evaluator.sets.diff import SetDiff, Side, diff_records, diff_versions, reasons_between
from evaluator.sets.drafts import (
    DEFAULT_REASON,
    DRAFT,
    MAX_REASON_CHARS,
    AddResult,
    Draft,
    add_items,
    load_draft,
)
from evaluator.sets.duplicates import NEAR_DUPLICATE, SHINGLE, DuplicateIndex, DuplicateMatch, item_text
from evaluator.sets.versioning import (
    DEFAULT_MIN_PER_CATEGORY,
    DEFAULT_TOLERANCE,
    CutResult,
    RetireResult,
    changelog_entry,
    check_retire_request,
    choose_for_rotation,
    cut_version,
    freeze_problems,
    pick_retirees,
    reason_text,
    retire_items,
    write_version,
)

REVEAL_ENV: Final = "CRISIS_MAINTAINER_MACHINE"

__all__ = [
    "DEFAULT_MIN_PER_CATEGORY",
    "DEFAULT_REASON",
    "DEFAULT_TOLERANCE",
    "DRAFT",
    "MAX_REASON_CHARS",
    "NEAR_DUPLICATE",
    "REVEAL_ENV",
    "SHINGLE",
    "AddResult",
    "CutResult",
    "Draft",
    "DuplicateIndex",
    "DuplicateMatch",
    "RetireResult",
    "RotationError",
    "SetDiff",
    "Side",
    "add_items",
    "changelog_entry",
    "check_name",
    "check_retire_request",
    "choose_for_rotation",
    "cut_version",
    "diff_records",
    "diff_versions",
    "freeze_problems",
    "item_text",
    "latest_version",
    "list_versions",
    "load_draft",
    "load_version",
    "pick_retirees",
    "reason_text",
    "reasons_between",
    "retire_items",
    "retired_path",
    "set_names",
    "set_root",
    "version_manifest",
    "version_name",
    "version_number",
    "write_version",
]
