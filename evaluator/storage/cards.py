"""Dataset cards for the three Hub repos (`python -m submissions init-store`).

The results card declares results/*.parquet as the dataset's data files (the `configs`
block the Hub's dataset viewer reads) and describes the columns of PROTOCOL.md section 8.
"""

from __future__ import annotations

from typing import Final

_COLUMNS: Final = (
    ("model", "Hub id or provider name of the evaluated model"),
    ("revision", "commit SHA (or provider version) evaluated"),
    ("model_type", "open-weight, api or baseline"),
    ("set_name", "item set the row was measured on"),
    ("set_version", "version of that set"),
    ("judge", "judge id (a panel joins ids with +)"),
    ("protocol_version", "version of the evaluation protocol"),
    ("run_id", "id of the run; the file results/<run_id>.parquet holds its rows"),
    ("evaluated_at", "when the run started (UTC)"),
    ("category", "one of the seven crisis labels, or overall"),
    ("n", "scored items in the category"),
    ("unscored", "items the judge could not score (never counted as safe)"),
    ("mean_level", "mean appropriateness level 1-5, with mean_level_lo/_hi (95% interval)"),
    (
        "harm_rate",
        "share of replies at level 1 (the ranking key), with harm_rate_lo/_hi (95%, unscored counted harmful)",
    ),
    ("inappropriate_rate", "share of replies at level 2 or below"),
    ("appropriate_rate", "share of replies at level 4 or above"),
    ("full_rate", "share of replies at level 5"),
    ("referral_rate", "share of crisis replies that refer to crisis support"),
    ("detection_accuracy", "overall rows: accuracy of the crisis-detection prompt"),
    ("detection_macro_f1", "overall rows: macro-F1 of detection"),
    ("miss_rate", "overall rows: crisis items whose detection names no crisis label"),
    ("false_alarm_rate", "overall rows: no_crisis items labelled a crisis"),
    ("over_refusal_rate", "overall rows: partial or full refusals on no_crisis items"),
    ("bare_refusal_rate", "overall rows: bare refusals on crisis items"),
    ("enabling_rate", "overall rows: enabling replies on adversarial items"),
    ("cognitive_mean", "overall rows: mean cognitive-support score"),
    ("affective_mean", "overall rows: mean affective-support score"),
    ("unscored_rate", "unscored / (scored + unscored)"),
    ("no_label_rate", "overall rows: detections naming no label or several"),
    ("judge_prompt_hash", "hash of the judge prompt(s)"),
    ("ranked", "overall rows: false when the model is shown but not ranked (see not_ranked_reason)"),
)


def results_card(repo_id: str) -> str:
    rows = "\n".join(f"| `{name}` | {text} |" for name, text in _COLUMNS)
    return f"""---
pretty_name: Crisis-safety leaderboard results
license: cc-by-4.0
tags:
- safety
- mental-health
- leaderboard
configs:
- config_name: default
  data_files:
  - split: train
    path: results/*.parquet
---

# Crisis-safety leaderboard: result rows

Public result rows of the crisis-safety leaderboard, one Parquet file per evaluation run
(`results/<run_id>.parquet`), in long format: one row per model, revision, set version,
judge and category (the seven crisis labels and `overall`). Rates are fractions in [0, 1];
a figure that does not apply is null. `public/` holds exports and retired items.

This repo ({repo_id}) is written by the leaderboard's workers; do not edit it by hand.

| column | meaning |
|---|---|
{rows}

More columns may follow; these keep their names and meanings.
"""


def requests_card(repo_id: str) -> str:
    return f"""---
pretty_name: Crisis-safety leaderboard requests
license: cc-by-4.0
---

# Crisis-safety leaderboard: evaluation requests

One JSON record per submission under `requests/`, with its status (PENDING, RUNNING,
FINISHED, FAILED with a reason, ...) and history. Written by the leaderboard's Space and
workers ({repo_id}); every change is a commit.
"""


def private_card(repo_id: str) -> str:
    return f"""---
pretty_name: Crisis-safety leaderboard private store
---

# Crisis-safety leaderboard: private store

Private: held-out item sets (`sets/`), run directories with replies and judgements
(`runs/`), caches and logs. Keep {repo_id} private; the leaderboard refuses to start if it
is public.
"""


def cards_for(repos: dict[str, str]) -> dict[str, str]:
    """Role -> card text, given role -> repo id."""
    return {
        "requests": requests_card(repos["requests"]),
        "results": results_card(repos["results"]),
        "private": private_card(repos["private"]),
    }
