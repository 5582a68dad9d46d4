"""Auto-coding per entity and per document, the recommended-threshold rule, high-value types, FP risk, and the
deployment policy: a threshold per type chosen on validation, pooled for low-support types, always-review types."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.errors import ConfigError
from pipeline.evaluation.confidence import ScoredSpans
from pipeline.evaluation.policy import (
    PolicyMismatch,
    PolicySettings,
    check_estimate,
    choose_policy,
    evaluate_policy,
    global_threshold_policy,
    review_all_policy,
    span_decision,
)
from pipeline.evaluation.readiness import (
    automation_rows,
    false_positive_rates,
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


SETTINGS = PolicySettings(target_precision=0.90, min_support=10, thresholds=(0.5, 0.8, 0.9, 0.95))


def spans_of(kind: str, *groups: tuple[int, float, bool]) -> list[tuple[str, str, float, bool]]:
    """`count` validation spans of `kind` at `confidence`, right or wrong, spread over documents d0-d3."""
    rows = [(kind, confidence, right) for count, confidence, right in groups for _ in range(count)]
    return [(f"d{i % 4}", kind, confidence, right) for i, (kind, confidence, right) in enumerate(rows)]


# B reaches 0.90 only at 0.95: 10 right at 0.97 (at 0.9: 15 spans, 12 right = 0.80; at 0.5: 20, 13 right = 0.65)
# A reaches it at 0.8, exactly: 9 right and 1 wrong at 0.85 (at 0.5: 12 spans, 9 right = 0.75)
# C never: 10 spans at 0.99, 7 right = 0.70 at every threshold
# D (7 spans) and E (6 spans) have fewer than 10 predictions: pooled, 13 spans; at 0.5 10 right = 0.77, at 0.8 the
# 11 spans at 0.9 hold 10 right = 0.91: the pooled threshold is 0.8; F is never predicted on validation: pooled too
VALIDATION = scored(
    spans_of("B", (10, 0.97, True), (2, 0.92, True), (3, 0.92, False), (1, 0.6, True), (4, 0.6, False))
    + spans_of("A", (9, 0.85, True), (1, 0.85, False), (2, 0.55, False))
    + spans_of("C", (7, 0.99, True), (3, 0.99, False))
    + spans_of("D", (6, 0.9, True), (1, 0.6, False))
    + spans_of("E", (4, 0.9, True), (1, 0.9, False), (1, 0.6, False))
)


@pytest.fixture(scope="module")
def policy() -> dict:
    return choose_policy(VALIDATION, ["A", "B", "C", "D", "E", "F"], 4, SETTINGS)


def test_each_frequent_type_gets_the_lowest_threshold_reaching_the_target_on_enough_spans(policy):
    assert (policy["types"]["A"]["threshold"], policy["types"]["A"]["source"]) == (0.8, "type")
    assert (policy["types"]["B"]["threshold"], policy["types"]["B"]["source"]) == (0.95, "type")
    assert policy["types"]["B"]["reason"] == (
        "the lowest threshold reaching validation precision 0.90 on at least 10 spans: 1.000 on 10 of 20 spans at 0.95"
    )
    assert policy["types"]["B"]["validation"]["predicted"] == 20
    assert policy["types"]["B"]["validation"]["automation_rate"] == 0.5
    assert policy["types"]["A"]["validation"]["precision"] == 0.9  # 9 of 10: the target counts as reached
    assert policy["types"]["A"]["validation"]["automation_rate"] == pytest.approx(10 / 12)


def test_a_type_that_reaches_the_target_at_no_threshold_is_always_reviewed(policy):
    assert policy["types"]["C"]["threshold"] is None
    assert policy["types"]["C"]["reason"] == (
        "no threshold reaches validation precision 0.90 on at least 10 spans (the most precise: 0.700 on 10 of 10 "
        "spans at 0.5): always reviewed"
    )
    assert policy["always_review"] == ["C"]
    assert policy["types"]["C"]["validation"]["auto_coded"] == 0
    assert policy["types"]["C"]["validation"]["precision"] is None  # nothing auto-coded, no precision


def test_low_support_types_share_the_threshold_chosen_on_their_pooled_spans(policy):
    assert policy["pooled"]["types"] == ["D", "E", "F"]
    assert (policy["pooled"]["predicted"], policy["pooled"]["threshold"]) == (13, 0.8)
    assert policy["pooled"]["precision"] == pytest.approx(10 / 11)
    for name in ("D", "E", "F"):
        assert (policy["types"][name]["threshold"], policy["types"][name]["source"]) == (0.8, "pooled")
    assert policy["types"]["F"]["reason"] == (
        "0 validation predictions, fewer than 10: pooled with the 3 low-support types, their pooled threshold, 0.8"
    )
    assert policy["pooled"]["reason"] == (
        "the lowest threshold reaching validation precision 0.90 on at least 10 spans: 0.909 on 11 of 13 spans at 0.8"
    )
    # per type the pool's threshold buys what it buys: E alone is at 4 of 5
    assert policy["types"]["E"]["validation"]["precision"] == 0.8


def test_without_enough_pooled_spans_the_low_support_types_are_always_reviewed():
    policy = choose_policy(scored(spans_of("D", (6, 0.9, True))), ["D"], 1, SETTINGS)
    assert policy["types"]["D"]["threshold"] is None and policy["always_review"] == ["D"]
    assert policy["types"]["D"]["reason"].endswith("their pool reaches the target at no threshold: always reviewed")
    assert policy["pooled"]["reason"] == (
        "no threshold reaches validation precision 0.90 on at least 10 spans: fewer than 10 of its 6 spans lie at or "
        "above even the lowest threshold, 0.5: always reviewed"
    )


def test_the_validation_estimate_counts_automation_precision_and_coder_hours(policy):
    # 55 predicted; auto-coded: B 10 + A 10 + D 6 + E 5 = 31, right: 10 + 9 + 6 + 4 = 29; 24 reviewed over 4
    # documents = 6 a note: 60,000 spans for 10,000 notes, 500 hours at 30 s
    estimate = policy["validation"]
    assert (estimate["documents"], estimate["predicted"], estimate["auto_coded"], estimate["reviewed"]) == (
        4,
        55,
        31,
        24,
    )
    assert estimate["precision"] == pytest.approx(29 / 31) and estimate["auto_errors"] == 2
    assert estimate["automation_rate"] == pytest.approx(31 / 55)
    assert (estimate["review_spans"], estimate["coder_hours"]) == (60000, 500)
    assert policy["settings"] == {
        "target_precision": 0.9,
        "min_support": 10,
        "thresholds": (0.5, 0.8, 0.9, 0.95),
        "seconds_per_span": 30.0,
        "notes": 10000,
    }


def test_on_test_the_policy_is_applied_span_by_span_and_an_unknown_type_is_reviewed(policy):
    test = scored(
        [
            ("t1", "B", 0.96, True),  # auto
            ("t1", "B", 0.93, False),  # review: below 0.95
            ("t1", "A", 0.81, False),  # auto, wrong
            ("t2", "C", 0.99, True),  # review: always
            ("t2", "D", 0.85, True),  # auto: pooled 0.8
            ("t2", "Z", 0.99, True),  # review: not in the policy
        ]
    )
    result = evaluate_policy(policy, test, 2)
    assert (result["auto_coded"], result["reviewed"], result["precision"]) == (3, 3, pytest.approx(2 / 3))
    assert (result["review_spans"], result["coder_hours"]) == (15000, 125)  # 1.5 a note
    assert result["per_type"]["B"]["automation_rate"] == 0.5
    assert result["per_type"]["Z"]["reviewed"] == 1
    assert result["per_type"]["F"]["predicted"] == 0 and result["per_type"]["F"]["automation_rate"] is None


def test_each_decision_says_why(policy):
    assert span_decision(policy, "B", 0.96) == ("auto", "at or above its type's threshold 0.95")
    assert span_decision(policy, "A", 0.8) == ("auto", "at or above its type's threshold 0.8")  # at it: auto
    assert span_decision(policy, "B", 0.93) == ("review", "below its type's threshold 0.95")
    assert span_decision(policy, "C", 0.999) == ("review", "always-review type")
    assert span_decision(policy, "E", 0.79) == ("review", "below the pooled threshold of low-support types 0.8")
    assert span_decision(policy, "Z", 0.99) == ("review", "type Z not in the policy")
    assert span_decision(global_threshold_policy(0.5), "C", 0.7) == (
        "auto",
        "at or above the --threshold 0.5 (policy not applied)",
    )
    assert span_decision(review_all_policy(), "A", 1.0) == ("review", "no deployment policy for this run")


def test_the_choice_stops_when_the_rule_would_auto_code_other_spans_than_it_counted(policy):
    estimate = evaluate_policy(policy, VALIDATION, 4)
    estimate["per_type"]["B"] = {**estimate["per_type"]["B"], "auto_coded": 11}
    with pytest.raises(PolicyMismatch, match="B: the choice counted"):
        check_estimate({"B": {"threshold": 0.95, "auto_coded": 10, "precision": 1.0}}, policy["pooled"], estimate)


def test_policy_settings_outside_their_range_are_refused():
    with pytest.raises(ConfigError, match="--policy-min-support must be at least 1"):
        choose_policy(VALIDATION, ["A"], 4, PolicySettings(min_support=0))
    with pytest.raises(ConfigError, match="--policy-thresholds must be values in"):
        choose_policy(VALIDATION, ["A"], 4, PolicySettings(thresholds=(0.5, 1.5)))
