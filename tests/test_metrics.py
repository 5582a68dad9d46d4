"""Strict entity-level scores, bootstrap intervals and the paired bootstrap, on hand-worked cases."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pipeline.core.scoring import strict_scores
from pipeline.core.tags import repair_iob2
from pipeline.evaluation.metrics import (
    Counts,
    bootstrap_intervals,
    document_counts,
    paired_bootstrap,
    scores_from_counts,
    validate_predictions,
)


def record(doc_id: str, gold: list[str], pred: list[str]) -> dict:
    return {"id": doc_id, "words": ["w"] * len(gold), "gold": gold, "pred": pred, "confidence": [0.9] * len(gold)}


def test_counts_agree_with_seqeval_on_a_hand_case():
    # A: gold 0-2, predicted 0-1 -> 1 FP, 1 FN; B: exact -> 1 TP. micro P = R = 1/2; macro F1 = (0 + 1) / 2
    gold, pred = ["B-A", "I-A", "O", "B-B"], ["B-A", "O", "O", "B-B"]
    scores = scores_from_counts(document_counts([record("d1", gold, pred)]))
    assert scores["micro"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert scores["macro"]["f1"] == pytest.approx(0.5)
    reference = strict_scores([gold], [pred])
    assert scores["micro"] == pytest.approx(reference["micro"])
    assert scores["macro"] == pytest.approx(reference["macro"])


def test_i_after_o_starts_an_entity_like_the_repaired_sequence():
    # "O I-A I-A B-A": our rule reads two A entities (0-based words 1-2 and 3); seqeval's strict mode drops
    # the I-started one unless the sequence is repaired first.
    tags = ["O", "I-A", "I-A", "B-A"]
    counts = document_counts([record("d1", tags, tags)])
    assert counts.tp.sum() == 2
    assert strict_scores([tags], [tags])["per_type"]["A"]["support"] == 1
    assert strict_scores([repair_iob2(tags)[0]], [repair_iob2(tags)[0]])["per_type"]["A"]["support"] == 2


def test_adjacent_same_type_entities_are_two_entities():
    # gold "B-A B-A" is two one-word entities; predicting "B-A I-A" (one two-word entity) gets neither.
    counts = document_counts([record("d1", ["B-A", "B-A"], ["B-A", "I-A"])])
    assert (counts.tp.sum(), counts.fp.sum(), counts.fn.sum()) == (0, 1, 2)


def test_weighted_average_weights_types_by_support():
    # A: 3 gold, 3 TP -> F1 1; B: 1 gold, missed -> F1 0. weighted F1 = (3*1 + 1*0) / 4 = 0.75; macro 0.5
    gold = ["B-A", "O", "B-A", "O", "B-A", "O", "B-B"]
    pred = ["B-A", "O", "B-A", "O", "B-A", "O", "O"]
    scores = scores_from_counts(document_counts([record("d1", gold, pred)]))
    assert scores["weighted"]["f1"] == pytest.approx(0.75)
    assert scores["macro"]["f1"] == pytest.approx(0.5)
    assert scores["per_type"]["B"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1, "predicted": 0}


def test_zero_predicted_entities_give_defined_zeros():
    scores = scores_from_counts(document_counts([record("d1", ["B-A", "O"], ["O", "O"])]))
    assert scores["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


def random_counts(documents: int, types: int, seed: int) -> Counts:
    rng = np.random.default_rng(seed)
    tp, fp, fn = (rng.integers(0, 5, size=(documents, types)) for _ in range(3))
    return Counts([f"d{i}" for i in range(documents)], [f"T{j}" for j in range(types)], tp, fp, fn)


def test_bootstrap_is_reproducible_with_a_seed_and_brackets_the_estimate():
    counts = random_counts(30, 5, seed=1)
    first, again, other = (bootstrap_intervals(counts, 1000, seed) for seed in (7, 7, 8))
    assert first == again
    assert first["micro_f1"] != other["micro_f1"]
    point = scores_from_counts(counts)["micro"]["f1"]
    assert first["micro_f1"][0] < point < first["micro_f1"][1]


def test_bootstrap_of_identical_documents_has_zero_width():
    # every document has 1 TP and 1 FP of type A: every resample has F1 = 2 * 0.5 * 1 / 1.5 = 2/3
    counts = Counts(["a", "b", "c"], ["A"], np.ones((3, 1)), np.ones((3, 1)), np.zeros((3, 1)))
    assert bootstrap_intervals(counts, 200, 0)["micro_f1"] == pytest.approx([2 / 3, 2 / 3])


def test_bootstrap_is_fast_for_30_documents_and_41_types():
    counts = random_counts(30, 41, seed=2)
    start = time.perf_counter()
    bootstrap_intervals(counts, 1000, 0)
    assert time.perf_counter() - start < 1.0


def test_paired_bootstrap_of_a_perfect_and_a_useless_run():
    documents = ["d1", "d2", "d3"]
    perfect = Counts(documents, ["A"], np.ones((3, 1)), np.zeros((3, 1)), np.zeros((3, 1)))
    useless = Counts(documents, ["A"], np.zeros((3, 1)), np.ones((3, 1)), np.ones((3, 1)))
    result = paired_bootstrap(perfect, useless, 500, 0)
    assert result["p_a_better"] == 1.0
    assert result["mean_difference"] == pytest.approx(1.0)
    assert result["ci"] == pytest.approx([1.0, 1.0])


def test_paired_bootstrap_refuses_different_documents_naming_them():
    a = Counts(["d1", "d2"], ["A"], np.ones((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)))
    b = Counts(["d1", "d9"], ["A"], np.ones((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"only in A: \['d2'\].*only in B: \['d9'\]"):
        paired_bootstrap(a, b)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"pred": ["O"]}, "document d1: words/gold/pred/confidence lengths differ"),
        ({"pred": ["B-Z", "O"]}, "document d1: pred tag 'B-Z' is not in the run's tag set"),
        ({"gold": ["X-A", "O"]}, "document d1: gold tag 'X-A' is not IOB2"),
    ],
)
def test_bad_predictions_name_the_document(bad, message):
    row = {**record("d1", ["B-A", "O"], ["B-A", "O"]), **bad}
    with pytest.raises(ValueError, match=message):
        validate_predictions([row], {"O", "B-A", "I-A"})


def test_an_empty_part_is_an_error():
    with pytest.raises(ValueError, match="empty part"):
        validate_predictions([], None, "run/predictions/test.jsonl")


def test_paired_bootstrap_counts_ties_for_neither_run():
    documents = ["d1", "d2", "d3"]
    same = Counts(documents, ["A"], np.ones((3, 1)), np.ones((3, 1)), np.zeros((3, 1)))
    result = paired_bootstrap(same, same, 200, 0)
    # identical runs: every resample is a tie; 1 - P(A>B) would have claimed B better every time
    assert (result["p_a_better"], result["p_b_better"], result["p_tie"]) == (0.0, 0.0, 1.0)


def test_paired_bootstrap_shares_add_up_to_one():
    documents = ["d1", "d2", "d3", "d4"]
    a = Counts(documents, ["A"], np.array([[1], [0], [1], [1]]), np.zeros((4, 1)), np.array([[0], [1], [0], [0]]))
    b = Counts(documents, ["A"], np.array([[1], [1], [0], [1]]), np.zeros((4, 1)), np.array([[0], [0], [1], [0]]))
    result = paired_bootstrap(a, b, 500, 1)
    assert result["p_tie"] > 0
    assert result["p_a_better"] + result["p_b_better"] + result["p_tie"] == pytest.approx(1.0)
