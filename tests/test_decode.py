"""Constrained Viterbi and argmax-then-repair decoding, on distributions small enough to check by hand.

Tags: 0 O, 1 B-A, 2 I-A, 3 B-B, 4 I-B. A path's score is the product of its words' probabilities.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.core.errors import ConfigError
from pipeline.modeling.decode import (
    UNSEEN_CONFIDENCE,
    allowed_transitions,
    decode_documents,
    decode_words,
    padded_groups,
)
from pipeline.modeling.mixture import combine_probabilities, prior_correct, tag_prior

ID2TAG = {0: "O", 1: "B-A", 2: "I-A", 3: "B-B", 4: "I-B"}
PRIOR = np.array([0.64, 0.09, 0.09, 0.09, 0.09])  # O frequent, the entity tags rare


def rows(*probabilities: list[float]) -> np.ndarray:
    return np.array(probabilities, dtype=np.float64)


def test_i_tags_are_allowed_only_after_their_own_type_and_never_first() -> None:
    allowed, first = allowed_transitions(ID2TAG)
    assert first.tolist() == [True, True, False, True, False]
    assert allowed[:, 2].tolist() == [False, True, True, False, False]  # I-A after B-A or I-A only
    assert allowed[:, 4].tolist() == [False, False, False, True, True]
    assert allowed[:, [0, 1, 3]].all()


def test_a_confident_continuation_pulls_an_uncertain_word_into_the_entity() -> None:
    # argmax says O, I-A (repaired to O, B-A: a one-word entity at word 1). Viterbi compares
    # O,B-A = .6*.1 = .06, O,O = .6*.1 = .06 and B-A,I-A = .3*.8 = .24: a two-word entity.
    probabilities = rows([0.6, 0.3, 0.1, 0, 0], [0.1, 0.1, 0.8, 0, 0])
    assert decode_words(probabilities, ID2TAG, "argmax") == (["O", "B-A"], [0.6, 0.8])
    tags, confidence = decode_words(probabilities, ID2TAG, "viterbi")
    assert tags == ["B-A", "I-A"]
    assert confidence == pytest.approx([0.3, 0.8])  # the chosen tag's probability, below word 0's maximum


def test_an_unlikely_continuation_is_dropped_rather_than_invented() -> None:
    # argmax O, I-A repairs to O, B-A; Viterbi: O,O = .9*.35 = .315 beats O,B-A = .9*.25 = .225
    # and B-A,I-A = .05*.4 = .02: no entity at all
    probabilities = rows([0.9, 0.05, 0.05, 0, 0], [0.35, 0.25, 0.4, 0, 0])
    assert decode_words(probabilities, ID2TAG, "argmax")[0] == ["O", "B-A"]
    tags, confidence = decode_words(probabilities, ID2TAG, "viterbi")
    assert tags == ["O", "O"]
    assert confidence == pytest.approx([0.9, 0.35])


def test_the_first_word_never_starts_with_an_i_tag() -> None:
    # I-A is word 0's best tag (.5) but not allowed first: B-A (.3) beats O (.2)
    tags, confidence = decode_words(rows([0.2, 0.3, 0.5, 0, 0]), ID2TAG, "viterbi")
    assert (tags, confidence) == (["B-A"], [pytest.approx(0.3)])


def test_a_type_switch_inside_an_entity_becomes_two_entities_or_one_type() -> None:
    # B-A, I-B is invalid. B-A,I-A = .6*.4 = .24; B-A,B-B = .6*.1; B-B,I-B = .3*.5 = .15: one A entity
    probabilities = rows([0.1, 0.6, 0, 0.3, 0], [0, 0, 0.4, 0.1, 0.5])
    assert decode_words(probabilities, ID2TAG, "viterbi")[0] == ["B-A", "I-A"]
    assert decode_words(probabilities, ID2TAG, "argmax")[0] == ["B-A", "B-B"]  # repair: I-B starts a B entity


def test_viterbi_keeps_the_argmax_sequence_when_it_is_already_valid() -> None:
    # every word's best tag at .8, the sequence valid IOB2: O, B-A, I-A, O, B-B, I-B twice
    pattern = [0, 1, 2, 0, 3, 4]
    peaked = np.full((12, 5), 0.05)
    for word, tag in enumerate(pattern * 2):
        peaked[word, tag] = 0.8
    assert decode_words(peaked, ID2TAG, "viterbi") == decode_words(peaked, ID2TAG, "argmax")
    assert decode_words(peaked, ID2TAG, "viterbi")[0] == [ID2TAG[t] for t in pattern * 2]


def test_words_no_window_covered_stay_outside_with_no_confidence() -> None:
    # word 1 is unseen (NaN): O with confidence 0, and word 2's I-A cannot continue across it
    probabilities = rows([0.1, 0.8, 0.1, 0, 0], [np.nan] * 5, [0.2, 0.3, 0.5, 0, 0])
    for decoder in ("viterbi", "argmax"):
        tags, confidence = decode_words(probabilities, ID2TAG, decoder)
        assert tags == ["B-A", "O", "B-A"]
        assert confidence[1] == UNSEEN_CONFIDENCE
    assert decode_words(probabilities, ID2TAG, "viterbi")[1] == pytest.approx([0.8, 0.0, 0.3])


def test_an_empty_document_decodes_to_nothing_and_an_unknown_decoder_is_refused() -> None:
    assert decode_words(np.zeros((0, 5)), ID2TAG, "viterbi") == ([], [])
    with pytest.raises(ConfigError, match="unknown decoder 'beam'"):
        decode_words(rows([1, 0, 0, 0, 0]), ID2TAG, "beam")


def valid(path: tuple[int, ...]) -> bool:
    allowed, first = allowed_transitions(ID2TAG)
    return bool(first[path[0]]) and all(allowed[a, b] for a, b in itertools.pairwise(path))


def test_viterbi_finds_the_most_probable_valid_sequence_of_all_3125() -> None:
    paths = [p for p in itertools.product(range(5), repeat=5) if valid(p)]
    assert len(paths) == 571  # 3, 11, 41, 153, 571 valid prefixes: I-X only after B-X or I-X, never first
    rng = np.random.default_rng(7)
    for _ in range(20):  # sharp and flat distributions: entities of 1 to 5 words, continued or not
        probabilities = rng.dirichlet(np.ones(5) * rng.choice([0.2, 1.0]), size=5)
        best = max(paths, key=lambda p: np.prod(probabilities[np.arange(5), p]))
        assert decode_words(probabilities, ID2TAG, "viterbi")[0] == [ID2TAG[t] for t in best]


def test_decoding_documents_together_gives_each_what_it_gets_alone() -> None:
    rng = np.random.default_rng(3)
    documents = [rng.dirichlet(np.ones(5) * 0.3, size=n) for n in (9, 0, 1, 3, 14)]
    documents[0][[2, 5]] = np.nan  # unseen words in the longest but one
    together = decode_documents(documents, ID2TAG, "viterbi")
    assert together == [decode_words(rows, ID2TAG, "viterbi") for rows in documents]
    assert [len(tags) for tags, _ in together] == [9, 0, 1, 3, 14]


def test_ties_go_to_the_lower_tag_id_so_uniform_words_stay_outside() -> None:
    assert decode_words(np.full((6, 5), 0.2), ID2TAG, "viterbi")[0] == ["O"] * 6


def test_documents_are_decoded_in_groups_whose_padded_size_stays_bounded() -> None:
    lengths = [3, 4, 10, 2, 2, 30]
    groups = padded_groups([np.zeros((n, 5)) for n in lengths], positions=12)
    assert [[len(rows) for rows in group] for group in groups] == [[3, 4], [10], [2, 2], [30]]


def test_the_combination_averages_the_two_distributions_and_falls_back_to_the_crf_where_unseen() -> None:
    transformer = rows([0.6, 0.3, 0.1, 0, 0], [np.nan] * 5)
    crf = rows([0.2, 0.7, 0.1, 0, 0], [0.1, 0.0, 0.9, 0, 0])
    combined = combine_probabilities(transformer, crf, 0.25)
    assert combined[0] == pytest.approx([0.3, 0.6, 0.1, 0, 0])  # .25*.6 + .75*.2 = .3; .25*.3 + .75*.7 = .6
    assert combined[1] == pytest.approx([0.1, 0.0, 0.9, 0, 0])
    assert combine_probabilities(transformer, crf, 1.0)[0] == pytest.approx(transformer[0])
    with pytest.raises(ValueError, match="disagree on the shape"):
        combine_probabilities(transformer, crf[:1], 0.5)


def test_the_training_prior_is_each_tags_add_one_smoothed_share_of_the_words() -> None:
    # counts O 4, B-A 1, I-A 1, B-B 0, I-B 0; plus one each: 5, 2, 2, 1, 1 over 11
    prior = tag_prior([["O", "O", "O", "B-A"], ["O", "I-A"]], {tag: index for index, tag in ID2TAG.items()})
    assert prior == pytest.approx([5 / 11, 2 / 11, 2 / 11, 1 / 11, 1 / 11])


def test_the_prior_correction_at_tau_zero_leaves_the_distributions_as_they_are() -> None:
    probabilities = rows([0.6, 0.4, 0, 0, 0], [0.1, 0.1, 0.8, 0, 0])
    assert np.array_equal(prior_correct(probabilities, PRIOR, 0.0), probabilities)


def test_the_prior_correction_lifts_a_rare_tag_by_the_inverse_prior_to_the_power_tau() -> None:
    # tau .5: O .6 / sqrt(.64) = .75, B-A .4 / sqrt(.09) = 4/3; renormalised by 25/12: .36 and .64
    probabilities = rows([0.6, 0.4, 0, 0, 0])
    assert prior_correct(probabilities, PRIOR, 0.5)[0] == pytest.approx([0.36, 0.64, 0, 0, 0])
    # tau 1: .6 / .64 = .9375, .4 / .09 = 4.444; shares .174 and .826
    assert prior_correct(probabilities, PRIOR, 1.0)[0] == pytest.approx(
        [0.9375 / 5.381944, 4.444444 / 5.381944, 0, 0, 0]
    )
    assert decode_words(prior_correct(probabilities, PRIOR, 0.5), ID2TAG)[0] == ["B-A"]  # was O


def test_the_prior_correction_leaves_words_no_window_covered_unseen() -> None:
    corrected = prior_correct(rows([np.nan] * 5, [0.6, 0.4, 0, 0, 0]), PRIOR, 1.0)
    assert np.isnan(corrected[0]).all() and corrected[1].sum() == pytest.approx(1.0)
