"""The CRF's word features, its weights read from crfsuite's model file, and its marginals computed in numpy:
equal to python-crfsuite's own, on random documents and on real notes."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
import sklearn_crfsuite

from pipeline.core.errors import CorruptOutputError
from pipeline.modeling import crf
from pipeline.modeling.crf import (
    NEIGHBOURS,
    PartRows,
    attribute_scores,
    crf_marginals,
    crf_probabilities,
    crf_weights,
    document_features,
    load_crf,
    predict_crf,
    read_crfsuite_model,
    save_crf,
    state_scores,
    word_features,
)

LABELS = ["O", "B-Sign", "I-Sign", "B-Age", "I-Age", "B-Dose", "I-Dose"]
VOCABULARY = ["Fever", "fever", "cough", "39.5", "mg", "CT", "x-ray", "A", "45-year-old", "woman", "of", "(", "Ödem"]


def random_documents(rng: random.Random, count: int, longest: int) -> list[list[str]]:
    return [[rng.choice(VOCABULARY) for _ in range(rng.randint(1, longest))] for _ in range(count)]


def fitted_crf(documents: list[list[str]], tags: list[list[str]], iterations: int = 60) -> sklearn_crfsuite.CRF:
    """A CRF fitted as `fit_crf` fits one (L-BFGS, elastic net, every transition possible)."""
    crf = sklearn_crfsuite.CRF(
        algorithm="lbfgs", c1=0.05, c2=0.01, max_iterations=iterations, all_possible_transitions=True
    )
    crf.fit([document_features(words) for words in documents], tags)
    return crf


@pytest.fixture(scope="module")
def random_crf() -> sklearn_crfsuite.CRF:
    rng = random.Random(3)
    documents = random_documents(rng, 80, 25)
    return fitted_crf(documents, [[rng.choice(LABELS) for _ in words] for words in documents])


def crfsuite_marginals(crf: sklearn_crfsuite.CRF, documents: list[list[str]]) -> list[np.ndarray]:
    """python-crfsuite's marginals (one `marginal(label, position)` call each), in crfsuite's label order."""
    labels = crf_weights(crf).labels
    found = crf.predict_marginals([document_features(words) for words in documents])
    return [
        np.array([[word[label] for label in labels] for word in marginals]).reshape(-1, len(labels))
        for marginals in found
    ]


def largest_difference(ours: list[np.ndarray], theirs: list[np.ndarray]) -> float:
    assert [a.shape for a in ours] == [b.shape for b in theirs]
    return max((float(np.abs(a - b).max()) for a, b in zip(ours, theirs) if a.size), default=0.0)


def test_a_words_features_are_its_own_then_each_neighbours_or_the_edges_in_a_fixed_order():
    assert word_features(["A", "Fever", "of", "39.5"], 1) == {
        "bias": 1.0,
        "lower": "fever",
        "suffix3": "ver",
        "suffix2": "er",
        "prefix3": "fev",
        "is_upper": False,
        "is_title": True,
        "is_digit": False,
        "has_digit": False,
        "shape": "Xx",
        "length": 5,
        "-2:edge": True,
        "-1:lower": "a",
        "-1:is_title": True,
        "-1:is_upper": True,
        "-1:shape": "X",
        "1:lower": "of",
        "1:is_title": False,
        "1:is_upper": False,
        "1:shape": "x",
        "2:lower": "39.5",
        "2:is_title": False,
        "2:is_upper": False,
        "2:shape": "d.d",
    }
    assert list(word_features(["A", "Fever", "of", "39.5"], 1))[11:13] == ["-2:edge", "-1:lower"]  # crfsuite's order


def test_marginals_equal_crfsuites_on_random_documents_of_different_lengths_in_one_call(random_crf):
    rng = random.Random(11)
    documents = [["fever"], *random_documents(rng, 12, 60), ["Zyxw", "qq!", "ünseen"], ["CT", "never-seen-word", "mg"]]
    ours = crf_marginals(crf_weights(random_crf), documents)
    assert largest_difference(ours, crfsuite_marginals(random_crf, documents)) < 1e-6
    assert [len(rows) for rows in ours] == [len(words) for words in documents]
    assert all(np.allclose(rows.sum(axis=1), 1.0) for rows in ours)
    alone = [crf_marginals(crf_weights(random_crf), [words])[0] for words in documents]
    assert largest_difference(ours, alone) < 1e-12  # a document's marginals do not depend on its company


def test_words_whose_own_features_the_crf_never_saw_get_crfsuites_marginals(random_crf):
    weights = crf_weights(random_crf)
    assert not {"lower:zyxw", "prefix3:zyx", "suffix3:yxw", "lower:qwerty"} & set(weights.columns)
    documents = [["Zyxw"], ["Zyxw", "Qwerty", "Zyxw"]]
    assert largest_difference(crf_marginals(weights, documents), crfsuite_marginals(random_crf, documents)) < 1e-6


def test_an_empty_call_has_no_marginals_and_an_empty_document_no_rows(random_crf):
    weights = crf_weights(random_crf)
    assert crf_marginals(weights, []) == []
    empty, one = crf_marginals(weights, [[], ["fever"]])
    assert empty.shape == (0, len(LABELS)) and one.shape == (1, len(LABELS))
    assert largest_difference([one], crfsuite_marginals(random_crf, [["fever"]])) < 1e-6


def test_a_crf_regularised_to_no_feature_at_all_gives_crfsuites_uniform_marginals():
    rng = random.Random(2)
    documents = random_documents(rng, 20, 10)
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=100.0, c2=0.01, max_iterations=20, all_possible_transitions=True)
    crf.fit([document_features(words) for words in documents], [[rng.choice(LABELS) for _ in w] for w in documents])
    weights = crf_weights(crf)
    assert weights.columns == {} and not weights.transition.any()
    ours = crf_marginals(weights, documents[:3])
    assert largest_difference(ours, crfsuite_marginals(crf, documents[:3])) < 1e-6
    assert np.allclose(ours[0], 1 / len(weights.labels))


def test_the_weights_are_the_model_files_doubles_which_crfsuites_text_dump_rounds_to_six_decimals(random_crf):
    weights = crf_weights(random_crf)
    dumped = random_crf.state_features_  # {(attribute, label): weight} from the text dump
    ours = {
        (attribute, weights.labels[label]): weights.state[row, label]
        for attribute, row in weights.columns.items()
        for label in weights.state[row].indices
    }
    assert ours.keys() == dumped.keys()
    assert max(abs(ours[key] - dumped[key]) for key in dumped) <= 5e-7
    assert any(ours[key] != dumped[key] for key in dumped)  # the dump lost digits that the marginals need
    for (previous, following), weight in random_crf.transition_features_.items():
        assert weights.transition[weights.labels.index(previous), weights.labels.index(following)] == pytest.approx(
            weight, abs=5e-7
        )
    assert list(weights.labels) == list(random_crf.classes_)


def test_weights_are_read_once_per_crf_and_at_load(random_crf, tmp_path):
    assert crf_weights(random_crf) is crf_weights(random_crf)
    save_crf(random_crf, tmp_path / "crf.pkl")
    loaded = load_crf(tmp_path / "crf.pkl")
    assert crf_weights(loaded) is not crf_weights(random_crf)
    assert crf_weights(loaded).columns == crf_weights(random_crf).columns


def test_a_file_that_is_not_a_crfsuite_model_is_refused_by_name():
    with pytest.raises(CorruptOutputError, match=r"runs/crf-x/model/crf\.pkl: not a crfsuite CRF1d model"):
        read_crfsuite_model(b"PK\x03\x04" + bytes(60), "runs/crf-x/model/crf.pkl")
    with pytest.raises(CorruptOutputError, match="too short"):
        read_crfsuite_model(b"lCRF", "model.crfsuite")


def test_the_crfs_confidence_is_crfsuites_marginal_of_its_viterbi_tag(random_crf):
    documents = random_documents(random.Random(5), 6, 30)
    predicted = predict_crf(random_crf, documents)
    expected = crfsuite_marginals(random_crf, documents)
    labels = crf_weights(random_crf).labels
    for (tags, confidence), words, marginals, viterbi in zip(
        predicted, documents, expected, random_crf.predict([document_features(w) for w in documents])
    ):
        assert len(tags) == len(words)
        chosen = [marginals[word, labels.index(tag)] for word, tag in enumerate(viterbi)]
        assert confidence == pytest.approx(chosen, abs=1e-6)


def test_probabilities_follow_the_datas_tag_order_with_zero_for_tags_the_crf_never_saw(random_crf):
    tag2id = {tag: index for index, tag in enumerate([*reversed(LABELS), "B-Never", "I-Never"])}
    (rows,) = crf_probabilities(random_crf, [["fever", "of", "CT"]], tag2id)
    (expected,) = crfsuite_marginals(random_crf, [["fever", "of", "CT"]])
    labels = crf_weights(random_crf).labels
    assert rows.dtype == np.float32 and rows.shape == (3, len(tag2id))
    assert np.allclose(rows[:, [tag2id[label] for label in labels]], expected, atol=1e-6)
    assert not rows[:, [tag2id["B-Never"], tag2id["I-Never"]]].any()


def test_marginals_equal_crfsuites_on_real_notes(shared_brat):
    from pipeline.data.brat import read_brat_folder

    documents = read_brat_folder(shared_brat, progress=False).documents
    train, notes = documents[:12], [document.words for document in documents[150:160]]
    crf = fitted_crf([d.words for d in train], [d.tags for d in train], iterations=30)
    ours = crf_marginals(crf_weights(crf), notes)
    assert len(crf_weights(crf).labels) > 20 and sum(map(len, notes)) > 2000
    assert largest_difference(ours, crfsuite_marginals(crf, notes)) < 1e-6


def test_a_words_kept_state_score_parts_are_exactly_what_scoring_it_again_gives(random_crf):
    weights = replace(crf_weights(random_crf), parts=PartRows())  # nothing kept yet
    documents = [["Fever", "of", "39.5", "mg"], ["CT", "never-seen", "Fever"], ["A"]]
    cold = state_scores(weights, documents)
    assert set(weights.parts.slots) == {word for words in documents for word in words}
    state_scores(weights, [["cough", "woman", "(", "Ödem", "x-ray"]])  # more words kept, in other slots
    warm = state_scores(weights, documents)  # every word found kept
    assert all(np.array_equal(a, b) for a, b in zip(cold, warm))
    expected = [attribute_scores(weights, document_features(words)) for words in documents]
    assert largest_difference(warm, expected) < 1e-12  # each word's features summed in one row


def test_the_kept_parts_stay_within_their_capacity_and_a_larger_call_is_scored_alone(random_crf):
    weights = crf_weights(random_crf)
    row_bytes = (1 + len(NEIGHBOURS)) * len(weights.labels) * 8
    bounded = replace(weights, parts=PartRows(capacity_bytes=row_bytes * 5))
    assert bounded.parts.capacity(len(weights.labels)) == 4
    rng = random.Random(4)
    for _ in range(6):
        documents = [[rng.choice(VOCABULARY) for _ in range(3)]]
        scores = state_scores(bounded, documents)
        assert len(bounded.parts.slots) <= 4 and bounded.parts.rows.shape[1] <= 5
        assert np.array_equal(scores[0], state_scores(replace(weights, parts=PartRows()), documents)[0])
    kept = dict(bounded.parts.slots)
    (many,) = state_scores(bounded, [VOCABULARY])  # 13 distinct words: more than it keeps
    assert bounded.parts.slots == kept
    assert np.array_equal(many, state_scores(replace(weights, parts=PartRows()), [VOCABULARY])[0])


def test_marginals_do_not_depend_on_how_a_call_is_cut_into_forward_backward_groups(random_crf, monkeypatch):
    documents = random_documents(random.Random(8), 9, 40)
    whole = crf_marginals(crf_weights(random_crf), documents)
    monkeypatch.setattr(crf, "MARGINAL_WORDS", 50)
    assert len(crf.word_groups(whole, 50)) > 3
    assert largest_difference(crf_marginals(crf_weights(random_crf), documents), whole) < 1e-12
