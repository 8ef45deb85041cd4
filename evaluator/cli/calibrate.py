"""`python -m evaluator calibrate`: the verb's arguments and what it prints and saves
(evaluator.calibration measures)."""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluator.backends import BackendOptions
from evaluator.cache import Cache
from evaluator.calibration.agreement import json_safe
from evaluator.calibration.conversations import (
    build_conversation_report,
    calibrate_conversations,
    is_conversation_file,
    load_conversation_ratings,
    panel_outcomes,
)
from evaluator.calibration.ratings import CalibrationError, load_ratings
from evaluator.calibration.reports import report_table, save_calibration
from evaluator.calibration.run import (
    DEFAULT_SAMPLE,
    CalibrationIncomplete,
    build_report,
    calibrate_levels,
    panel_levels,
)
from evaluator.calibration.variants import PARAPHRASES
from evaluator.catalog import resolve_set
from evaluator.cli.common import add_data
from evaluator.conversation.judging import conversation_judge_for
from evaluator.conversation.persona import resolve_personas
from evaluator.judge.factory import make_judge
from evaluator.storage import DataDir


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Calibrate each --judge (and their panel when there are several); exit 1 if a judge's calls failed."""
    data = DataDir.at(args.data)
    if args.variants < 0:
        raise CalibrationError("--variants must be 0 or more")
    if args.variants > len(PARAPHRASES):
        raise CalibrationError(f"--variants is at most {len(PARAPHRASES)} (the paraphrases written so far)")
    ratings_path = Path(args.ratings)
    conversations = is_conversation_file(ratings_path)
    if conversations and args.set:
        raise CalibrationError("--set names an item set; a conversation ratings file takes --personas")
    if args.personas and not conversations:
        raise CalibrationError("--personas is for a conversation ratings file (one with C1-C5 answers)")
    item_set = resolve_set(args.set, data) if args.set else None
    personas = resolve_personas(args.personas, data) if args.personas else None
    pairs: Sequence[Any] = (
        load_conversation_ratings(ratings_path, personas) if conversations else load_ratings(ratings_path, item_set)
    )
    used = item_set or personas
    source = {
        "ratings_file": ratings_path.name,
        "ratings_sha256": hashlib.sha256(ratings_path.read_bytes()).hexdigest(),
        "personas" if conversations else "set": None if used is None else {"name": used.name, "version": used.version},
    }
    options = BackendOptions(base_url=args.base_url, api_key_env=args.api_key_env, timeout_s=args.timeout)
    judges: list[Any] = []
    for spec in dict.fromkeys(args.judge):
        judge = make_judge(spec, options)
        if all(j.id != judge.id for j in judges):  # two spellings of one judge rate once
            judges.append(judge)
    cache = Cache(data.cache / "cache.sqlite")
    status = 0
    try:
        levels_by_judge: dict[str, list[Any]] = {}
        for judge in judges:
            levels: list[Any]
            try:
                if conversations:
                    report, levels = calibrate_conversations(pairs, judge, cache, args.variants, not args.quiet, source)
                else:
                    report, levels = calibrate_levels(
                        pairs, judge, cache, args.variants, args.sample, args.seed, not args.quiet, source
                    )
            except CalibrationIncomplete as exc:
                sys.stderr.write(f"{judge.id}: {exc}\n")
                status = 1
                continue
            levels_by_judge[judge.id] = levels
            path = save_calibration(data, report)
            print(report_table(report))
            print(f"saved: {path}\n")
        if len(levels_by_judge) > 1 and status == 0:
            path = _save_panel(data, pairs, judges, levels_by_judge, source, conversations)
            print(f"panel report saved: {path}")
    finally:
        cache.close()
        for judge in judges:
            # A model judge owns its backend (make_judge built it); closing frees its clients.
            owner = getattr(judge, "close", None) or getattr(getattr(judge, "backend", None), "close", None)
            if owner is not None:
                owner()
    return status


def _save_panel(
    data: DataDir,
    pairs: Sequence[Any],
    judges: Sequence[Any],
    levels_by_judge: Mapping[str, Sequence[Any]],
    source: Mapping[str, Any],
    conversations: bool,
) -> Path:
    """The panel's report: per pair the lower median level, per conversation the panel's C1-C5."""
    panel = [j for j in judges if j.id in levels_by_judge]
    ids, official = "+".join(j.id for j in panel), all(bool(j.official) for j in panel)
    if conversations:
        hashes = "+".join(conversation_judge_for(j).prompt_hash for j in panel)
        outcomes = panel_outcomes(pairs, levels_by_judge)
        built = build_conversation_report(ids, hashes, official, pairs, outcomes, source)
    else:
        levels = panel_levels(pairs, levels_by_judge)
        hashes = "+".join(j.prompt_hash for j in panel)
        built = build_report(ids, hashes, official, pairs, levels, [None] * len(pairs), source)
    report = json_safe(built | {"panel": [j.id for j in panel]})
    print(report_table(report))
    return save_calibration(data, report)


def register(verbs: Any) -> None:
    p = verbs.add_parser(
        "calibrate",
        help="measure a judge's agreement with human ratings",
        description="Judge every rated (item, reply) pair and report judge–human agreement (quadratic-weighted "
        "kappa, harmful recall and precision, within-one, mean signed difference), per category and per rater, "
        "with human–human agreement where pairs were rated twice. A file of rated conversations (C1-C5 answers) "
        "gets the same figures per conversation question (Red recall for harmful). The report (figures only) is "
        "saved under <data>/public/calibration/.",
    )
    p.add_argument("--ratings", required=True, metavar="FILE", help="JSONL or CSV of human ratings (see the docs)")
    p.add_argument("--judge", action="append", required=True, metavar="SPEC", help="judge spec (repeatable)")
    p.add_argument("--set", help="the item set that ratings' item_id refer to (path, public-sample, NAME[@VERSION])")
    p.add_argument(
        "--personas",
        metavar="SET",
        help="for a conversation ratings file: the persona set its persona_id refer to "
        "(public-personas, a JSONL file, NAME[@VERSION])",
    )
    p.add_argument(
        "--variants",
        type=int,
        default=0,
        metavar="N",
        help=f"re-judge a sample with N reworded prompts (≤{len(PARAPHRASES)})",
    )
    p.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="pairs re-judged per prompt variant")
    p.add_argument("--seed", type=int, default=0, help="seed of the variant sample")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint for openai: judges")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="env var holding the judge's API key")
    p.add_argument("--timeout", type=float, default=120.0, help="per-request timeout in seconds")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_data(p)
    p.set_defaults(func=cmd_calibrate)
