"""Span confidences, the threshold table, reliability/ECE and temperature scaling on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures import make_fixture_run

from pipeline.core.layout import read_predictions
from pipeline.core.tags import Span, tags_from_spans
from pipeline.evaluation.confidence import (
    ScoredSpans,
    apply_temperature,
    confidence_analysis,
    fit_temperature,
    reliability,
    scored_spans,
    span_confidence,
    threshold_rows,
)


def spans(confidence: list[float], correct: list[bool], gold_total: int) -> ScoredSpans:
    return ScoredSpans(
        np.asarray(confidence),
        np.asarray(correct),
        ["A"] * len(confidence),
        ["d1"] * len(confidence),
        np.asarray([]),
        gold_total,
        ["A"] * gold_total,
    )


def test_span_confidence_is_the_minimum_or_the_mean_of_its_words():
    words = [0.9, 0.6, 0.8, 0.1]
    assert span_confidence(words, Span(0, 3, "A")) == 0.6
    assert span_confidence(words, Span(0, 3, "A"), "mean") == pytest.approx(2.3 / 3)
    with pytest.raises(ValueError, match="'min' or 'mean'"):
        span_confidence(words, Span(0, 3, "A"), "max")


def test_mean_confidence_of_true_positives_false_positives_and_missed_spans():
    # gold A(0-1), B(3); predicted A(0-1) right, C(4) spurious; B missed. min over words: 0.7, 0.6, 0.4
    record = {
        "id": "d1",
        "words": list("abcde"),
        "confidence": [0.9, 0.7, 0.99, 0.4, 0.6],
        "gold": tags_from_spans(5, [Span(0, 2, "A"), Span(3, 4, "B")]),
        "pred": tags_from_spans(5, [Span(0, 2, "A"), Span(4, 5, "C")]),
    }
    result = confidence_analysis([record], [record])
    assert result["mean"] == pytest.approx({"tp": 0.7, "fp": 0.6, "fn": 0.4})
    assert result["counts"] == {"tp": 1, "fp": 1, "fn": 1}


def test_threshold_rows_by_hand():
    # four predicted spans (0.95 right, 0.9 right, 0.8 wrong, 0.6 right) against five gold spans
    rows = {
        r["threshold"]: r
        for r in threshold_rows(spans([0.95, 0.9, 0.8, 0.6], [True, True, False, True], 5), [0.5, 0.7, 0.85, 0.99])
    }
    assert rows[0.85] == {"threshold": 0.85, "kept": 2, "precision": 1.0, "coverage": 0.5, "recall": 0.4}
    assert rows[0.7]["precision"] == pytest.approx(2 / 3) and rows[0.7]["coverage"] == 0.75
    assert rows[0.5]["precision"] == 0.75 and rows[0.5]["recall"] == pytest.approx(0.6)
    assert rows[0.99] == {"threshold": 0.99, "kept": 0, "precision": 0.0, "coverage": 0.0, "recall": 0.0}


def test_coverage_and_recall_never_rise_with_the_threshold(tmp_path):
    test = read_predictions(make_fixture_run(tmp_path, seed=3), "test")
    rows = threshold_rows(scored_spans(test), [i / 20 for i in range(21)])
    for key in ("coverage", "recall"):
        values = [r[key] for r in rows]
        assert values == sorted(values, reverse=True) and values[0] > values[-1]


def test_expected_calibration_error_by_hand():
    # bin (0.8, 0.9]: two spans at 0.9, one right -> |0.5 - 0.9| * 2/4 = 0.2
    # bin (0.2, 0.3]: two spans at 0.3, none right -> |0 - 0.3| * 2/4 = 0.15; ECE = 0.35
    result = reliability(np.array([0.9, 0.9, 0.3, 0.3]), np.array([True, False, False, False]))
    assert result["ece"] == pytest.approx(0.35)
    filled = [b for b in result["bins"] if b["count"]]
    assert [(b["count"], b["accuracy"]) for b in filled] == [(2, 0.0), (2, 0.5)]


def test_temperature_softens_overconfident_spans():
    # every span says 0.9 but 60% are right: sigmoid(logit(0.9) / T) = 0.6 -> T = 2.197 / 0.405 = 5.42
    confidence = np.full(100, 0.9)
    correct = np.arange(100) < 60
    temperature = fit_temperature(confidence, correct)
    assert temperature == pytest.approx(np.log(9) / np.log(1.5), rel=1e-3)
    after = apply_temperature(confidence, temperature)
    assert reliability(after, correct)["ece"] < 0.01 < reliability(confidence, correct)["ece"]


def test_temperature_is_one_when_nothing_can_be_fitted():
    assert fit_temperature(np.array([0.7, 0.8]), np.array([True, True])) == 1.0
    assert fit_temperature(np.array([]), np.array([], dtype=bool)) == 1.0
