"""Judge calibration against human ratings (PROTOCOL.md section 5; issue 5).

`python -m evaluator calibrate --ratings FILE --judge SPEC` has the judge rate the same
(item, reply) pairs that people rated, and reports how far the two agree: quadratic-weighted
kappa on levels, recall and precision on `harmful` (level 1; recall matters most: a harmful
reply the judge lets through is the costly error), within-one-level agreement, and the mean
signed difference judge − human (positive: the judge is more lenient). Figures are given
overall, per category and per rater, next to the agreement of the people with each other,
which bounds what any judge can be expected to reach.

The human reference for a pair rated by several people is their lower median, as in a judge
panel: a tie goes to the more severe level, so a judge is never credited with agreeing with
the lenient half of a split.

Prompt-variant sensitivity (`--variants N`) re-judges a sample of pairs with the judge's
role paragraph reworded N ways (the rubric, the checklist and the defences around the data
are untouched) and reports how far harm rates, and the ranking of models when the file
names several, move. A judge whose verdicts swing with wording is measuring the wording.

The saved report holds figures only: no item text, no reply text, no item ids and no rater
names (raters are numbered), since it is published under <data>/public/calibration/.

Ratings file: JSONL (one object per line) or CSV (header row), one rating per line:

    item_id     id of an item of --set; or inline item fields instead:
    category, signal, turns (a list, or JSON text in CSV) or message (one user turn),
                and optionally track, domain, locale, age_group; or `item`: an object (JSONL)
    reply       the reply that was rated (required)
    level       the person's level, 1-5 (required)
    rater       who rated (default "rater"); two rows for one pair from two raters
    model       optional: which model wrote the reply (enables the ranking comparison)
    checklist   optional: {"R1": "yes", ...} (JSON text in CSV), or CSV columns R1...Q4

A file of rated conversations (C1-C5 answers, PROTOCOL section 9) is calibrated by the same
verb and figures, per conversation question: see `conversations` for its format.

Modules: `ratings` (the file read into pairs), `agreement` (the figures), `variants` (reworded
judge prompts), `run` (one judge's report), `conversations` (rated conversations and their
report), `reports` (saved reports, the offline judge's shipped figures, the table printed).
The `calibrate` verb: evaluator/cli/calibrate.py.
"""

from __future__ import annotations

from evaluator.calibration.agreement import checklist_agreement, human_agreement, level_figures, ranking_tau
from evaluator.calibration.conversations import (
    RatedConversation,
    calibrate_conversations,
    is_conversation_file,
    load_conversation_ratings,
)
from evaluator.calibration.ratings import QUESTION_IDS, CalibrationError, Pair, load_ratings
from evaluator.calibration.reports import (
    CALIBRATION_DIR,
    SHIPPED_DIR,
    SHIPPED_RATINGS,
    SHIPPED_SUMMARY,
    calibration_dir,
    calibration_reports,
    heuristic_calibration_summary,
    latest_calibration,
    report_table,
    save_calibration,
    shipped_heuristic_calibration,
    write_heuristic_calibration,
)
from evaluator.calibration.run import DEFAULT_SAMPLE, CalibrationIncomplete, calibrate, panel_levels
from evaluator.calibration.variants import (
    PARAPHRASES,
    PromptVariantBackend,
    VariantJudge,
    supports_variants,
    variant_system_prompt,
)
from evaluator.metrics.agreement import kendall_tau

__all__ = [
    "CALIBRATION_DIR",
    "DEFAULT_SAMPLE",
    "PARAPHRASES",
    "QUESTION_IDS",
    "SHIPPED_DIR",
    "SHIPPED_RATINGS",
    "SHIPPED_SUMMARY",
    "CalibrationError",
    "CalibrationIncomplete",
    "Pair",
    "PromptVariantBackend",
    "RatedConversation",
    "VariantJudge",
    "calibrate",
    "calibrate_conversations",
    "calibration_dir",
    "calibration_reports",
    "checklist_agreement",
    "heuristic_calibration_summary",
    "human_agreement",
    "is_conversation_file",
    "kendall_tau",
    "latest_calibration",
    "level_figures",
    "load_conversation_ratings",
    "load_ratings",
    "panel_levels",
    "ranking_tau",
    "report_table",
    "save_calibration",
    "shipped_heuristic_calibration",
    "supports_variants",
    "variant_system_prompt",
    "write_heuristic_calibration",
]
