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
from evaluator.metrics.intervals import (
    RateFigure,
    bootstrap_mean,
    clustered_wilson,
    mean_level_interval,
    mover,
    overall_rate,
    rate_figure,
    t_quantile,
    wilson,
    wilson_proportion,
)
from evaluator.metrics.ranking import Ranks, rank_intervals, rank_table
from evaluator.metrics.scoring import WORSE_RATES, ScoredItem, compute_rows, rate_of, to_table

__all__ = [
    "WORSE_RATES",
    "DetectionReport",
    "LevelAgreement",
    "Ranks",
    "RateFigure",
    "ScoredItem",
    "bootstrap_mean",
    "clustered_wilson",
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
    "overall_rate",
    "quadratic_kappa",
    "rank_intervals",
    "rank_table",
    "rate_figure",
    "rate_of",
    "t_quantile",
    "to_table",
    "wilson",
    "wilson_proportion",
    "within_one",
]
