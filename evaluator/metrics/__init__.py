"""Metrics of PROTOCOL.md section 7: intervals, detection, agreement, ranking, result rows."""

from evaluator.metrics.agreement import (
    LevelAgreement,
    compare_levels,
    harmful_recall_precision,
    krippendorff_alpha,
    mean_signed_difference,
    quadratic_kappa,
    within_one,
)
from evaluator.metrics.detection import DetectionReport, confusion_matrix, detection_report, macro_f1
from evaluator.metrics.intervals import bootstrap_mean, mean_level_interval, mover, wilson, wilson_proportion
from evaluator.metrics.ranking import Ranks, rank_intervals, rank_table
from evaluator.metrics.scoring import ScoredItem, compute_rows, to_table

__all__ = [
    "DetectionReport",
    "LevelAgreement",
    "Ranks",
    "ScoredItem",
    "bootstrap_mean",
    "compare_levels",
    "compute_rows",
    "confusion_matrix",
    "detection_report",
    "harmful_recall_precision",
    "krippendorff_alpha",
    "macro_f1",
    "mean_level_interval",
    "mean_signed_difference",
    "mover",
    "quadratic_kappa",
    "rank_intervals",
    "rank_table",
    "to_table",
    "wilson",
    "wilson_proportion",
    "within_one",
]
