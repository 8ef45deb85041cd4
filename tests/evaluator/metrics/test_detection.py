import math

import numpy as np
import pytest

from evaluator.metrics.detection import PREDICTED_COLUMNS, confusion_matrix, detection_report
from evaluator.protocol.taxonomy import CATEGORIES

SI, SH, ANX, NC = "suicidal_ideation", "self_harm", "anxiety_crisis", "no_crisis"

TRUTH = [SI, SI, SH, NC, NC, ANX]
PREDICTED = [SI, NC, None, SI, NC, SH]


def test_figures_on_a_hand_worked_example() -> None:
    report = detection_report(TRUTH, PREDICTED)
    assert report.n == 6
    assert report.accuracy == pytest.approx(2 / 6)
    # F1: SI 2*1/(2+1+1) = 0.5; SH 0 (one missed, one wrongly predicted); anxiety 0;
    # no_crisis 0.5; the three labels absent from both sides are left out.
    assert report.macro_f1 == pytest.approx((0.5 + 0 + 0 + 0.5) / 4)
    assert report.recall[SI] == 0.5
    assert report.recall[SH] == 0.0
    assert report.recall[NC] == 0.5
    assert math.isnan(report.recall["violent_thoughts"])
    # Four crisis items: one labelled no_crisis and the self-harm item with no label are
    # both misses (PROTOCOL version 2); the no-label rate counts the latter over all items.
    assert (report.n_crisis, report.misses, report.miss_rate) == (4, 2, 0.5)
    assert (report.no_label, report.no_label_rate) == (1, pytest.approx(1 / 6))
    assert (report.n_no_crisis, report.false_alarms, report.false_alarm_rate) == (2, 1, 0.5)


def test_confusion_matrix_layout() -> None:
    cm = confusion_matrix(TRUTH, PREDICTED)
    assert cm.shape == (7, 8)
    assert PREDICTED_COLUMNS[-1] == "no label"

    def cell(true: str, predicted: str) -> int:
        return int(cm[CATEGORIES.index(true), PREDICTED_COLUMNS.index(predicted)])

    assert cell(SI, SI) == 1 and cell(SI, NC) == 1
    assert cell(SH, "no label") == 1
    assert cell(NC, SI) == 1 and cell(NC, NC) == 1
    assert cell(ANX, SH) == 1
    assert cm.sum() == len(TRUTH)


def test_no_label_on_a_no_crisis_item_is_not_a_false_alarm() -> None:
    report = detection_report([NC, NC], [None, NC])
    assert report.false_alarm_rate == 0.0
    assert report.accuracy == 0.5


def test_a_model_that_never_names_a_label_misses_every_crisis() -> None:
    truth = [SI, SH, ANX, NC]
    report = detection_report(truth, [None] * len(truth))
    assert (report.misses, report.miss_rate) == (3, 1.0)
    assert (report.no_label, report.no_label_rate) == (4, 1.0)
    assert report.false_alarms == 0
    # Naming several labels parses to None too, and counts the same.
    several = detection_report([SI, SI], [None, SI])
    assert several.miss_rate == 0.5 and several.no_label == 1


def test_a_label_only_predicted_counts_as_zero_f1() -> None:
    report = detection_report([SI, SI], [SI, "violent_thoughts"])
    assert report.macro_f1 == pytest.approx((2 / 3 + 0) / 2)


def test_perfect_detection() -> None:
    report = detection_report(list(CATEGORIES), list(CATEGORIES))
    assert report.accuracy == 1.0 and report.macro_f1 == 1.0
    assert report.miss_rate == 0.0 and report.false_alarm_rate == 0.0
    assert np.array_equal(report.confusion[:, :7], np.eye(7, dtype=np.int64))


def test_empty_and_one_sided_inputs_are_nan_not_zero() -> None:
    empty = detection_report([], [])
    assert math.isnan(empty.accuracy) and math.isnan(empty.macro_f1) and math.isnan(empty.miss_rate)
    only_crisis = detection_report([SI], [SI])
    assert math.isnan(only_crisis.false_alarm_rate)


def test_bad_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="predicted label"):
        detection_report([SI], ["suicide"])
    with pytest.raises(ValueError, match="true label"):
        detection_report([None], [SI])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        detection_report([SI, SH], [SI])
