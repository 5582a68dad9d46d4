"""Windows over long documents, label alignment, and the window chosen for each word."""

from __future__ import annotations

import pytest

from pipeline.modeling.features import (
    IGNORE_INDEX,
    Window,
    best_window_positions,
    build_windows,
    covered_words,
    encode_documents,
    plan_windows,
    window_features,
    word_pieces,
)


def test_windows_cover_every_word_and_share_at_most_overlap_pieces():
    counts = [1, 2, 1, 3, 1, 1, 2, 1]  # 12 wordpieces
    windows = plan_windows(counts, max_pieces=5, overlap=2)
    # (0,3) holds 4 pieces; the next starts back 1 piece (word 2; word 1 would make 3 > 2) and so on
    assert windows == [(0, 3), (2, 5), (4, 8)]
    assert set().union(*(range(s, e) for s, e in windows)) == set(range(8))


def test_a_word_longer_than_a_window_gets_a_window_of_its_own():
    assert plan_windows([1, 9, 1], max_pieces=4, overlap=1) == [(0, 1), (1, 2), (2, 3)]


def test_overlap_must_be_below_the_window():
    with pytest.raises(ValueError, match="overlap 4 must be below the max length 4"):
        plan_windows([1, 1], max_pieces=4, overlap=4)


def test_window_adds_special_tokens_and_maps_positions_to_words():
    (window,) = build_windows([[7], [8, 9]], max_length=8, overlap=2, cls_id=101, sep_id=102)
    assert window.input_ids == [101, 7, 8, 9, 102]
    assert window.word_ids == [None, 0, 1, 1, None]
    assert window.first_subword == [False, True, True, False, False]


def test_truncation_keeps_only_the_first_window():
    windows = build_windows([[1]] * 10, max_length=6, overlap=1, cls_id=101, sep_id=102, truncate=True)
    assert [(w.word_start, w.word_end) for w in windows] == [(0, 4)]


def test_labels_go_on_first_subwords_only_by_default():
    (window,) = build_windows([[7], [8, 9]], max_length=8, overlap=2, cls_id=101, sep_id=102)
    tag2id = {"O": 0, "B-Age": 1, "I-Age": 2}
    assert window_features(window, ["O", "B-Age"], tag2id)["labels"] == [IGNORE_INDEX, 0, 1, IGNORE_INDEX, IGNORE_INDEX]
    assert window_features(window, ["O", "B-Age"], tag2id, label_all_subwords=True)["labels"] == [
        IGNORE_INDEX,
        0,
        1,
        2,
        IGNORE_INDEX,
    ]


def test_word_the_tokenizer_deletes_becomes_unk(minilm_tokenizer):
    pieces = word_pieces(minilm_tokenizer, ["fever", "\u0301", "cough"])
    assert pieces[1] == [minilm_tokenizer.unk_token_id]
    assert len(pieces) == 3


def test_every_word_of_a_long_real_document_is_in_a_window(minilm_tokenizer):
    words = ("The patient had severe chest pain and dyspnoea ." * 120).split()
    windows = encode_documents(minilm_tokenizer, [words], max_length=64, overlap=16)
    assert len(windows) > 10
    assert covered_words(windows, 0, len(words)) == len(words)
    assert all(len(w) <= 64 for w in windows)


def test_each_word_is_read_from_the_window_where_it_is_farthest_from_an_edge():
    # words 0..5; window A holds 0-3, window B holds 2-5 (one piece per word, [CLS] at position 0)
    a = Window(0, 0, 4, [0] * 6, [None, 0, 1, 2, 3, None], [False, True, True, True, True, False])
    b = Window(0, 2, 6, [0] * 6, [None, 2, 3, 4, 5, None], [False, True, True, True, True, False])
    chosen = best_window_positions([a, b], 6)
    # word 2: 2 pieces from A's right edge vs 1 from B's left edge -> A; word 3: 1 vs 2 -> B
    assert [window for window, _ in chosen] == [0, 0, 0, 1, 1, 1]
    assert chosen[3] == (1, 2)


def test_a_word_in_no_window_is_an_error_unless_truncating():
    a = Window(0, 0, 1, [0, 0, 0], [None, 0, None], [False, True, False])
    with pytest.raises(ValueError, match=r"words \[1\] are in no window"):
        best_window_positions([a], 2)
    assert best_window_positions([a], 2, allow_uncovered=True)[1] is None
