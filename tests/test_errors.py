"""The span error taxonomy, cross-checked with nervaluate, and the confusion/length/example/pattern tables."""

from __future__ import annotations

from collections import Counter

import pytest
from nervaluate import Evaluator

from pipeline.core.scoring import strict_counts
from pipeline.core.tags import Span, tags_from_spans
from pipeline.evaluation.metrics import wilson
from pipeline.evaluation.taxonomy import (
    Match,
    TaxonomyMismatch,
    boundary_by_length,
    categorize,
    category_counts,
    check_against_seqeval,
    confusion,
    match_records,
    match_spans,
    pattern_report,
    sample_examples,
    scores_by_length,
    top_confusions,
)

GOLD = Span(2, 4, "Disease_disorder")  # "myocardial infarction" in "the patient myocardial infarction was noted"


@pytest.mark.parametrize(
    "pred, category",
    [
        (Span(2, 4, "Disease_disorder"), "exact"),
        (Span(2, 4, "Sign_symptom"), "type_confusion"),
        (Span(2, 3, "Disease_disorder"), "boundary_under"),  # "myocardial"
        (Span(1, 4, "Disease_disorder"), "boundary_over"),  # "patient myocardial infarction"
        (Span(3, 5, "Disease_disorder"), "boundary_shifted"),  # "infarction was"
        (Span(2, 3, "Sign_symptom"), "boundary_and_type"),
        (None, "missed"),
    ],
)
def test_each_category_on_one_gold_span(pred, category):
    assert categorize(GOLD, pred) == category


def test_a_prediction_overlapping_nothing_is_spurious_and_the_gold_span_missed():
    matches = match_spans("d1", [Span(0, 1, "Age")], [Span(3, 4, "Sex")])
    assert [(m.category, m.gold, m.pred) for m in matches] == [
        ("spurious", None, Span(3, 4, "Sex")),
        ("missed", Span(0, 1, "Age"), None),
    ]


def record(doc_id: str, words: list[str], gold: list[Span], pred: list[Span]) -> dict:
    return {
        "id": doc_id,
        "words": words,
        "gold": tags_from_spans(len(words), gold),
        "pred": tags_from_spans(len(words), pred),
        "confidence": [0.9] * len(words),
    }


# one document with every category once: each span overlaps at most one span of the other side
WORDS = "a 45-year-old man had chest pain and myocardial infarction after PCI with aspirin on day 5 of MRI".split()  # noqa: SIM905 (a sentence reads better than 18 quoted words)
ALL_CATEGORIES = record(
    "d1",
    WORDS,
    gold=[
        Span(1, 2, "Age"),
        Span(2, 3, "Sex"),
        Span(4, 6, "Sign_symptom"),
        Span(7, 9, "Disease_disorder"),
        Span(10, 11, "Therapeutic_procedure"),
        Span(12, 13, "Medication"),
        Span(17, 18, "Diagnostic_procedure"),
    ],
    pred=[
        Span(1, 2, "Age"),  # exact
        Span(2, 3, "Age"),  # type_confusion
        Span(4, 5, "Sign_symptom"),  # boundary_under
        Span(6, 9, "Disease_disorder"),  # boundary_over
        Span(10, 11, "Therapeutic_procedure"),  # exact
        Span(11, 13, "Diagnostic_procedure"),  # boundary_and_type
        Span(15, 16, "Lab_value"),
    ],
)  # spurious; MRI (17) missed


def test_counts_and_shares_of_a_document_with_every_category():
    result = category_counts(match_records([ALL_CATEGORIES]))
    assert result["counts"] == {
        "exact": 2,
        "type_confusion": 1,
        "boundary_under": 1,
        "boundary_over": 1,
        "boundary_shifted": 0,
        "boundary_and_type": 1,
        "missed": 1,
        "spurious": 1,
    }
    assert result["errors_total"] == 6
    assert result["shares"]["missed"] == pytest.approx(1 / 6)
    assert result["exact_match_rate"] == pytest.approx(2 / 7)  # 2 of 7 gold spans exact
    assert result["partial_match_rate"] == pytest.approx(4 / 7)  # + under and over (same type)


def test_taxonomy_agrees_with_nervaluate():
    types = [
        "Age",
        "Sex",
        "Sign_symptom",
        "Disease_disorder",
        "Therapeutic_procedure",
        "Medication",
        "Diagnostic_procedure",
        "Lab_value",
    ]
    ner = Evaluator([ALL_CATEGORIES["gold"]], [ALL_CATEGORIES["pred"]], tags=types, loader="list").evaluate()["overall"]
    counts = category_counts(match_records([ALL_CATEGORIES]))["counts"]
    boundary = counts["boundary_under"] + counts["boundary_over"] + counts["boundary_shifted"]
    assert ner["strict"].correct == counts["exact"]
    assert ner["exact"].correct == counts["exact"] + counts["type_confusion"]
    assert ner["ent_type"].correct == counts["exact"] + boundary
    assert ner["partial"].partial == boundary + counts["boundary_and_type"]
    assert ner["strict"].missed == counts["missed"]
    assert ner["strict"].spurious == counts["spurious"]


def test_confusion_matrix_counts_overlapping_pairs_with_none_for_missed_and_spurious():
    matches = match_records([ALL_CATEGORIES])
    matrix = confusion(matches, ["Age", "Sex", "Medication", "Diagnostic_procedure", "Lab_value"])
    labels, values = matrix["labels"], matrix["matrix"]
    assert labels[-1] == "none"
    assert values[labels.index("Sex")][labels.index("Age")] == 1
    assert values[labels.index("Diagnostic_procedure")][labels.index("none")] == 1  # missed MRI
    assert values[labels.index("none")][labels.index("Lab_value")] == 1  # spurious
    assert top_confusions(matrix)[0] == {
        "gold": "Medication",
        "predicted": "Diagnostic_procedure",
        "count": 1,
        "share": 1.0,
    }


def test_scores_by_entity_length():
    # gold lengths 1,1,2,2,1,1,1; predicted lengths 1,1,1,3,1,2,1; exact: Age and PCI (length 1)
    rows = {row["length"]: row for row in scores_by_length(match_records([ALL_CATEGORIES]))}
    assert (rows["1"]["support"], rows["1"]["predicted"]) == (5, 5)
    assert rows["1"]["precision"] == pytest.approx(2 / 5) and rows["1"]["recall"] == pytest.approx(2 / 5)
    assert (rows["2"]["support"], rows["2"]["predicted"], rows["2"]["f1"]) == (2, 1, 0.0)
    assert (rows["3-4"]["support"], rows["3-4"]["predicted"]) == (0, 1)
    assert rows["5+"] == {"length": "5+", "support": 0, "predicted": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}


def test_examples_are_stratified_seeded_and_relative_to_their_context():
    matches = match_records([ALL_CATEGORIES])
    examples = sample_examples(matches, [ALL_CATEGORIES], total=10, context=2, seed=3)
    assert sorted(e["category"] for e in examples) == sorted(
        ["type_confusion", "boundary_under", "boundary_over", "boundary_and_type", "missed", "spurious"]
    )
    assert examples == sample_examples(matches, [ALL_CATEGORIES], total=10, context=2, seed=3)
    under = next(e for e in examples if e["category"] == "boundary_under")
    # gold "chest pain" (words 4-5) with 2 words of context: words 2..7 -> offsets 2..4 in the context
    assert under["window_start"] == 2 and under["words"] == ["man", "had", "chest", "pain", "and", "myocardial"]
    assert under["error"] == {
        "gold": {"start": 2, "end": 4, "type": "Sign_symptom"},
        "pred": {"start": 2, "end": 3, "type": "Sign_symptom"},
    }


def test_pattern_detectors_report_miss_rates():
    # gold spans: "MRI" (all caps, missed) and "aspirin" (found): abbreviations 1/1 missed, others 0/1
    words = ["MRI", "showed", "aspirin"]
    rows = pattern_report(
        match_records(
            [
                record(
                    "d1",
                    words,
                    [Span(0, 1, "Diagnostic_procedure"), Span(2, 3, "Medication")],
                    [Span(2, 3, "Medication")],
                )
            ]
        ),
        [record("d1", words, [], [])],
    )
    caps = next(r for r in rows if r["pattern"] == "abbreviation_or_all_caps")
    assert (caps["gold_with"], caps["missed_with"], caps["miss_rate_with"]) == (1, 1, 1.0)
    assert (caps["gold_without"], caps["miss_rate_without"]) == (1, 0.0)


def test_examples_take_the_categories_in_turn():
    # three copies of the document: 3 errors in each of 6 categories; 12 examples -> 2 per category
    records = [{**ALL_CATEGORIES, "id": f"d{i}"} for i in range(3)]
    examples = sample_examples(match_records(records), records, total=12, context=2, seed=0)
    assert Counter(e["category"] for e in examples) == {
        c: 2 for c in ("type_confusion", "boundary_under", "boundary_over", "boundary_and_type", "missed", "spurious")
    }


# One document per awkward overlap, with the outcome of every span worked by hand.
OVERLAPS = {
    # one prediction over two adjacent gold spans: it takes the leftmost, the other is missed
    "merged": (
        [Span(0, 2, "Sign_symptom"), Span(2, 4, "Sign_symptom")],
        [Span(0, 4, "Sign_symptom")],
        [
            ("boundary_over", Span(0, 2, "Sign_symptom"), Span(0, 4, "Sign_symptom")),
            ("missed", Span(2, 4, "Sign_symptom"), None),
        ],
    ),
    # one gold span split across two predictions: the leftmost takes it, the other is spurious
    "split": (
        [Span(0, 4, "Disease_disorder")],
        [Span(0, 2, "Disease_disorder"), Span(2, 4, "Disease_disorder")],
        [
            ("boundary_under", Span(0, 4, "Disease_disorder"), Span(0, 2, "Disease_disorder")),
            ("spurious", None, Span(2, 4, "Disease_disorder")),
        ],
    ),
    # a prediction between an other-type (left) and a same-type (right) gold span: position decides
    "tie": (
        [Span(0, 2, "Age"), Span(2, 4, "Sex")],
        [Span(1, 3, "Sex")],
        [("boundary_and_type", Span(0, 2, "Age"), Span(1, 3, "Sex")), ("missed", Span(2, 4, "Sex"), None)],
    ),
    # an exact match next to a prediction that covers it and its neighbour
    "exact beside a merge": (
        [Span(0, 1, "Age"), Span(1, 2, "Sex"), Span(2, 3, "Sex")],
        [Span(0, 1, "Age"), Span(1, 3, "Sex")],
        [
            ("exact", Span(0, 1, "Age"), Span(0, 1, "Age")),
            ("boundary_over", Span(1, 2, "Sex"), Span(1, 3, "Sex")),
            ("missed", Span(2, 3, "Sex"), None),
        ],
    ),
}


@pytest.mark.parametrize("case", OVERLAPS)
def test_every_gold_and_every_predicted_span_gets_one_outcome(case):
    gold, pred, expected = OVERLAPS[case]
    matches = match_spans("d", gold, pred)
    assert [(m.category, m.gold, m.pred) for m in matches] == expected
    assert sorted(m.gold for m in matches if m.gold) == sorted(gold)
    assert sorted(m.pred for m in matches if m.pred) == sorted(pred)


def overlap_records() -> list[dict]:
    return [record(case, ["w"] * 5, gold, pred) for case, (gold, pred, _) in OVERLAPS.items()]


def test_overlap_outcomes_agree_with_nervaluate_strict_exact_and_partial():
    records = overlap_records()
    ner = Evaluator(
        [r["gold"] for r in records],
        [r["pred"] for r in records],
        tags=["Sign_symptom", "Disease_disorder", "Age", "Sex"],
        loader="list",
    ).evaluate()["overall"]
    counts = category_counts(match_records(records))["counts"]
    same_bounds = counts["exact"] + counts["type_confusion"]
    overlapping = sum(counts[c] for c in ("boundary_under", "boundary_over", "boundary_shifted", "boundary_and_type"))
    assert (ner["strict"].correct, ner["strict"].incorrect) == (counts["exact"], counts["type_confusion"] + overlapping)
    assert (ner["exact"].correct, ner["exact"].incorrect) == (same_bounds, overlapping)
    assert (ner["partial"].correct, ner["partial"].partial) == (same_bounds, overlapping)
    for mode in ("strict", "exact", "partial"):
        assert (ner[mode].missed, ner[mode].spurious) == (counts["missed"], counts["spurious"])
    assert (counts["exact"], overlapping, counts["missed"], counts["spurious"]) == (1, 4, 3, 1)


def test_overlap_outcomes_reconcile_with_seqeval_and_recall():
    records = overlap_records()
    result = category_counts(match_records(records))
    tp, fp, fn = strict_counts([r["gold"] for r in records], [r["pred"] for r in records])
    assert (tp, fp, fn) == (1, 5, 7)  # 8 gold spans, 6 predictions, 1 exact
    check_against_seqeval(result, (tp, fp, fn), recall=1 / 8)
    assert result["exact_match_rate"] == pytest.approx(1 / 8)


def test_a_taxonomy_that_loses_a_gold_span_is_stopped():
    result = category_counts(match_records(overlap_records()))
    result["counts"]["missed"] -= 1  # what the old matching did: an overlapped gold span with no outcome
    with pytest.raises(TaxonomyMismatch, match=r"seqeval strict \(TP, FP, FN\) = \(1, 5, 7\)"):
        check_against_seqeval(result, (1, 5, 7), recall=1 / 8)


def test_exact_match_rate_is_strict_recall_on_real_adjacent_entities(shared_brat):
    """Predictions that merge every pair of adjacent gold entities and split every long one, on the real
    corpus (22% of consecutive entities are adjacent): every outcome reconciles with seqeval."""
    from pipeline.data.brat import read_brat_folder

    documents = read_brat_folder(shared_brat, progress=False).documents[:40]
    records = []
    for document in documents:
        spans, pred = document.spans, []
        for span in spans:
            if pred and pred[-1].end == span.start and pred[-1].type == span.type:
                pred[-1] = Span(pred[-1].start, span.end, span.type)  # merge with the adjacent one
            elif len(span) >= 3:
                pred += [Span(span.start, span.start + 1, span.type), Span(span.start + 1, span.end, span.type)]
            else:
                pred.append(span)
        records.append(record(document.id, document.words, spans, pred))
    result = category_counts(match_records(records))
    tp, fp, fn = strict_counts([r["gold"] for r in records], [r["pred"] for r in records])
    check_against_seqeval(result, (tp, fp, fn), recall=tp / (tp + fn))
    assert result["counts"]["missed"] > 0 and result["counts"]["spurious"] > 0
    assert result["gold_spans"] == sum(len(d.spans) for d in documents)


def test_wilson_interval_of_one_and_six_in_ten():
    assert wilson(1, 10) == pytest.approx([0.0179, 0.4042], abs=1e-4)
    assert wilson(6, 10) == pytest.approx([0.3127, 0.8318], abs=1e-4)
    assert wilson(0, 0) == [0.0, 1.0]


def test_wilson_interval_ends_exactly_at_a_rate_of_zero_or_one():
    # the closed form gives centre - half = 0 only up to rounding; the interval must hold its rate
    assert wilson(0, 7)[0] == 0.0 and wilson(7, 7)[1] == 1.0
    assert wilson(0, 7)[1] == pytest.approx(0.3543, abs=1e-4)


def length_matches(length: int, gold: int, boundary: int) -> list[Match]:
    """`gold` gold spans of `length` words, the first `boundary` of them predicted one word short."""
    spans = [Span(0, length, "Age") for _ in range(gold)]
    return [
        Match("d1", "boundary_under", span, Span(0, length - 1, "Age"))
        if number < boundary
        else Match("d1", "exact", span, span)
        for number, span in enumerate(spans)
    ]


def test_boundary_errors_by_length_with_wilson_intervals_trend_and_difference():
    # 1 of 10 one-word spans and 6 of 10 five-word spans: two buckets, p = 7/20 = 0.35, scores 0 and 1;
    # z = (6 - 10 * 0.5 * 7 / 10) / sqrt(0.35 * 0.65 * 5) = 2.5 / 1.0665 = 2.344, p = 0.019 (two-sided)
    result = boundary_by_length(
        length_matches(1, 10, 1) + length_matches(6, 10, 6) + [Match("d1", "spurious", None, Span(3, 4, "Age"))]
    )
    rows = {row["length"]: row for row in result["buckets"]}
    assert (rows["1"]["gold"], rows["1"]["boundary_errors"], rows["1"]["rate"]) == (10, 1, 0.1)
    assert (rows["5+"]["gold"], rows["5+"]["boundary_errors"], rows["5+"]["rate"]) == (10, 6, 0.6)
    assert rows["5+"]["ci"] == pytest.approx([0.3127, 0.8318], abs=1e-4)
    assert (rows["2"]["gold"], rows["2"]["rate"]) == (0, None)
    assert result["trend"]["buckets"] == ["1", "5+"]
    assert result["trend"]["z"] == pytest.approx(2.344, abs=1e-3)
    assert result["trend"]["p_value"] == pytest.approx(0.0191, abs=1e-4)
    # Newcombe: 0.5 - hypot(0.6 - 0.3127, 0.4042 - 0.1), 0.5 + hypot(0.8318 - 0.6, 0.1 - 0.0179)
    assert result["difference"]["difference"] == pytest.approx(0.5)
    assert result["difference"]["ci"] == pytest.approx([0.0816, 0.7460], abs=1e-3)


def test_a_type_error_with_other_boundaries_counts_as_a_boundary_error():
    gold = Span(0, 2, "Age")
    matches = [
        Match("d1", "boundary_and_type", gold, Span(0, 1, "Sex")),
        Match("d1", "type_confusion", gold, Span(0, 2, "Sex")),
        Match("d1", "missed", gold, None),
    ]
    assert boundary_by_length(matches)["buckets"][1]["boundary_errors"] == 1


def test_no_trend_test_without_two_lengths_or_without_errors():
    assert boundary_by_length(length_matches(1, 5, 2))["trend"] is None
    assert boundary_by_length(length_matches(1, 5, 0) + length_matches(2, 5, 0))["trend"] is None
