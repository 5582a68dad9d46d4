"""Auto-coding per entity and per document, the recommended-threshold rule, high-value types, FP risk."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluation.confidence import ScoredSpans
from pipeline.evaluation.readiness import (
    automation_rows,
    false_positive_rates,
    high_risk_types,
    high_value_scores,
    recommend_threshold,
)


def scored(rows: list[tuple[str, str, float, bool]]) -> ScoredSpans:
    """(document, type, confidence, correct) per predicted span."""
    return ScoredSpans(
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
        [r[1] for r in rows],
        [r[0] for r in rows],
        np.array([]),
        len(rows),
        [r[1] for r in rows],
    )


TWO_DOCUMENTS = scored(
    [("d1", "A", 0.95, True), ("d1", "A", 0.9, True), ("d2", "A", 0.95, True), ("d2", "B", 0.6, False)]
)


def test_auto_coding_per_entity_and_per_document():
    rows = {r["threshold"]: r for r in automation_rows(TWO_DOCUMENTS, [0.5, 0.85])}
    # at 0.85: three of four entities auto-coded, all right; only d1 has every span above -> 1 of 2 documents
    assert rows[0.85]["automation_rate"] == 0.75 and rows[0.85]["review_rate"] == 0.25
    assert rows[0.85]["precision"] == 1.0
    assert (rows[0.85]["documents_auto_coded"], rows[0.85]["document_automation_rate"]) == (1, 0.5)
    assert rows[0.85]["document_precision"] == 1.0
    # at 0.5: everything auto-coded, 3 of 4 right
    assert (rows[0.5]["automation_rate"], rows[0.5]["precision"], rows[0.5]["document_precision"]) == (1.0, 0.75, 0.75)


def row(threshold: float, precision: float) -> dict:
    return {"threshold": threshold, "precision": precision, "auto_coded": 10}


def test_recommended_threshold_is_the_lowest_reaching_the_target_on_validation():
    validation = [row(0.5, 0.80), row(0.7, 0.92), row(0.9, 0.95)]
    test = [row(0.5, 0.70), row(0.7, 0.85), row(0.9, 0.90)]
    chosen = recommend_threshold(validation, test, 0.90)
    assert chosen["threshold"] == 0.7 and chosen["met"]
    assert chosen["rule"] == "lowest threshold with validation precision >= 0.90"
    assert chosen["test"]["precision"] == 0.85  # reported on test, chosen on validation


def test_without_a_threshold_reaching_the_target_the_most_precise_is_chosen_and_said():
    chosen = recommend_threshold([row(0.5, 0.6), row(0.9, 0.8)], [row(0.5, 0.5), row(0.9, 0.7)], 0.95)
    assert chosen["threshold"] == 0.9 and not chosen["met"]
    assert chosen["rule"].startswith("no threshold reaches validation precision 0.95")


def test_high_value_precision_and_coverage_at_the_threshold():
    spans = scored(
        [("d1", "Medication", 0.9, True), ("d1", "Medication", 0.8, False), ("d1", "Medication", 0.95, False)]
    )
    per_type = {"Medication": {"precision": 1 / 3, "recall": 0.5, "f1": 0.4, "support": 2}}
    result = high_value_scores(spans, per_type, ["Medication", "Disease_disorder"], 0.85)
    assert result["Medication"]["precision_at_threshold"] == 0.5  # 0.9 right, 0.95 wrong
    assert result["Medication"]["coverage_at_threshold"] == pytest.approx(2 / 3)
    assert result["Disease_disorder"]["f1"] == 0.0 and result["Disease_disorder"]["coverage_at_threshold"] == 0.0


def test_false_positive_rates_are_ranked_by_the_number_of_wrong_codes():
    spans = scored([("d1", "A", 0.9, False), ("d1", "A", 0.9, False), ("d1", "A", 0.9, True), ("d1", "B", 0.9, False)])
    ranked = false_positive_rates(spans, high_value=["B"])
    assert [(r["type"], r["false_positives"], r["fp_rate"], r["high_value"]) for r in ranked] == [
        ("A", 2, pytest.approx(2 / 3), False),
        ("B", 1, 1.0, True),
    ]


def test_a_type_with_few_predictions_is_never_high_risk():
    # Sex: one prediction, wrong (rate 1.0); A: 12 predictions, 6 wrong (0.5); B: 10 predictions, 3 wrong (0.3)
    rows = [("d", "Sex", 0.9, False)] + [("d", "A", 0.9, i % 2 == 0) for i in range(12)]
    rows += [("d", "B", 0.9, i >= 3) for i in range(10)]
    ranked = high_risk_types(false_positive_rates(scored(rows)), min_predictions=10)
    assert [(r["type"], r["fp_rate"], r["predicted"]) for r in ranked] == [("A", 0.5, 12), ("B", 0.3, 10)]
    assert next(r["type"] for r in high_risk_types(false_positive_rates(scored(rows)), min_predictions=1)) == "Sex"
