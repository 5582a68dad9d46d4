"""Tokenization, label alignment and windows over long documents (Task 1.1.3).

Most MACCROBAT documents exceed 512 wordpieces. Instead of truncating, a document is cut into
overlapping windows aligned to word boundaries so that every word lies in at least one window;
`Window.word_ids` maps each position back to its document word, which is what prediction merging
uses. Labels go on the first subword of each word (-100 elsewhere and on special tokens), or on
every subword with B- turned into I- on continuations (`label_all_subwords`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.config import DataConfig
from pipeline.core.documents import Document
from pipeline.core.errors import ConfigError
from pipeline.data.prepare import describe
from pipeline.modeling.registry import resolve_model

IGNORE_INDEX = -100
TOKENIZE_CHUNK_WORDS = 2000  # bounds memory on very long notes


@dataclass
class Window:
    """One model input: document words [word_start, word_end) with their wordpieces."""

    document: int
    word_start: int
    word_end: int
    input_ids: list[int]
    word_ids: list[int | None]  # document word of each position; None for special tokens
    first_subword: list[bool]

    def __len__(self) -> int:
        return len(self.input_ids)


def special_token_ids(tokenizer: Any) -> tuple[int, int]:
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        raise ConfigError(
            f"{type(tokenizer).__name__} has no [CLS]/[SEP] tokens; only BERT-style encoders are supported"
        )
    return cls_id, sep_id


def word_pieces(tokenizer: Any, words: Sequence[str]) -> list[list[int]]:
    """Wordpiece ids of each word via `word_ids()`; a word the tokenizer deletes becomes [UNK].

    Some characters (a lone combining accent, control characters) produce no wordpiece at all,
    which would silently shift a word-to-token alignment; mapping them to [UNK] keeps one label
    slot per word.
    """
    pieces: list[list[int]] = [[] for _ in words]
    transformers_logger = logging.getLogger("transformers.tokenization_utils_base")
    previous_level = transformers_logger.level
    transformers_logger.setLevel(logging.ERROR)  # "sequence longer than max length" is expected here
    try:
        for offset in range(0, len(words), TOKENIZE_CHUNK_WORDS):
            chunk = list(words[offset : offset + TOKENIZE_CHUNK_WORDS])
            encoding = tokenizer(chunk, is_split_into_words=True, add_special_tokens=False, truncation=False)
            for token_id, word_id in zip(encoding["input_ids"], encoding.word_ids()):
                if word_id is not None:
                    pieces[offset + word_id].append(token_id)
    finally:
        transformers_logger.setLevel(previous_level)
    return [ids or [tokenizer.unk_token_id] for ids in pieces]


def plan_windows(piece_counts: Sequence[int], max_pieces: int, overlap: int) -> list[tuple[int, int]]:
    """Word ranges [start, end) of windows of at most `max_pieces` wordpieces.

    Consecutive windows share up to `overlap` wordpieces of whole words. A single word longer than
    a window gets a window of its own (its wordpieces are cut to fit). Every word is covered.
    """
    if max_pieces < 1:
        raise ConfigError("a window must hold at least one wordpiece")
    if not 0 <= overlap < max_pieces:
        raise ConfigError(f"overlap {overlap} must be below the max length {max_pieces}")
    total = len(piece_counts)
    windows: list[tuple[int, int]] = []
    start = 0
    while start < total:
        end, used = start, 0
        while end < total and used + piece_counts[end] <= max_pieces:
            used += piece_counts[end]
            end += 1
        end = max(end, start + 1)
        windows.append((start, end))
        if end == total:
            break
        next_start, shared = end, 0
        while next_start - 1 > start and shared + piece_counts[next_start - 1] <= overlap:
            shared += piece_counts[next_start - 1]
            next_start -= 1
        start = next_start
    return windows


def build_windows(
    pieces: list[list[int]],
    max_length: int,
    overlap: int,
    cls_id: int,
    sep_id: int,
    document: int = 0,
    truncate: bool = False,
) -> list[Window]:
    """Windows of one document; `truncate` keeps only the first (the common 512-cut recipe)."""
    max_pieces = max_length - 2
    ranges = plan_windows([len(p) for p in pieces], max_pieces, min(overlap, max_pieces - 1))
    if truncate:
        ranges = ranges[:1]
    windows = []
    for start, end in ranges:
        input_ids: list[int] = [cls_id]
        word_ids: list[int | None] = [None]
        first = [False]
        for word in range(start, end):
            word_piece_ids = pieces[word][:max_pieces]
            input_ids.extend(word_piece_ids)
            word_ids.extend([word] * len(word_piece_ids))
            first.extend([True] + [False] * (len(word_piece_ids) - 1))
        input_ids.append(sep_id)
        word_ids.append(None)
        first.append(False)
        windows.append(Window(document, start, end, input_ids, word_ids, first))
    return windows


def encode_documents(
    tokenizer: Any, documents: Sequence[Sequence[str]], max_length: int, overlap: int, truncate: bool = False
) -> list[Window]:
    """Windows of many documents (each given as its words), in document order."""
    cls_id, sep_id = special_token_ids(tokenizer)
    windows: list[Window] = []
    for index, words in enumerate(documents):
        windows.extend(
            build_windows(word_pieces(tokenizer, words), max_length, overlap, cls_id, sep_id, index, truncate)
        )
    return windows


def window_labels(
    window: Window, tags: Sequence[str], tag2id: dict[str, int], label_all_subwords: bool = False
) -> list[int]:
    labels = []
    for word, first in zip(window.word_ids, window.first_subword):
        if word is None or (not first and not label_all_subwords):
            labels.append(IGNORE_INDEX)
            continue
        tag = tags[word]
        if not first and tag.startswith("B-"):
            tag = "I-" + tag[2:]
        labels.append(tag2id[tag])
    return labels


def window_features(
    window: Window,
    tags: Sequence[str] | None = None,
    tag2id: dict[str, int] | None = None,
    label_all_subwords: bool = False,
) -> dict[str, list[int]]:
    """Model inputs for one window (with `labels` when tags are given)."""
    features = {"input_ids": list(window.input_ids), "attention_mask": [1] * len(window)}
    if tags is not None and tag2id is not None:
        features["labels"] = window_labels(window, tags, tag2id, label_all_subwords)
    return features


def covered_words(windows: Sequence[Window], document: int, n_words: int) -> int:
    """How many of a document's words sit in at least one window (must equal n_words)."""
    seen = {word for window in windows if window.document == document for word in window.word_ids if word is not None}
    return len(seen & set(range(n_words)))


def best_window_positions(
    windows: Sequence[Window], n_words: int, allow_uncovered: bool = False
) -> list[tuple[int, int] | None]:
    """For each word: (index into `windows`, position of its first subword) to predict it from.

    The chosen window is the one where the word lies farthest from a window edge, counted in
    wordpieces; an edge that is also the document's start or end does not count, since no context
    is missing there. Ties go to the earlier window. Deterministic. Words in no window are an
    error unless `allow_uncovered` (the truncation baseline), where they map to None.
    """
    best: list[tuple[int, int] | None] = [None] * n_words
    margin: list[float] = [-1] * n_words  # a word's distance to its window's cut; inf at a document edge
    for index, window in enumerate(windows):
        at_start = window.word_start == 0
        at_end = window.word_end == n_words
        last = len(window) - 1
        for position, (word, first) in enumerate(zip(window.word_ids, window.first_subword)):
            if word is None or not first:
                continue
            left = float("inf") if at_start else position
            right = float("inf") if at_end else last - position
            distance = min(left, right)
            if distance > margin[word]:
                margin[word] = distance
                best[word] = (index, position)
    missing = [word for word, choice in enumerate(best) if choice is None]
    if missing and not allow_uncovered:
        raise ValueError(f"words {missing[:5]} are in no window")
    return best


def make_collator(tokenizer: Any, pad_to_multiple_of: int | None = None) -> Any:
    """Dynamic padding; labels padded with -100 (use pad_to_multiple_of=8 on GPU tensor cores)."""
    from transformers import DataCollatorForTokenClassification

    return DataCollatorForTokenClassification(
        tokenizer, pad_to_multiple_of=pad_to_multiple_of, label_pad_token_id=IGNORE_INDEX
    )


TRUNCATION_LENGTH = 512  # the common recipe's cut, whose losses the data summary reports


def length_statistics(documents: list[Document], tokenizer: Any, max_length: int, overlap: int) -> dict[str, Any]:
    """Word/wordpiece lengths, window coverage and what a single 512-wordpiece cut would lose."""
    cls_id, sep_id = special_token_ids(tokenizer)
    pieces_per_doc, coverage_words, total_words = [], 0, 0
    lost_entities, lost_words, docs_cut, windows_total = 0, 0, 0, 0
    for index, document in enumerate(documents):
        pieces = word_pieces(tokenizer, document.words)
        pieces_per_doc.append(sum(len(p) for p in pieces))
        windows = build_windows(pieces, max_length, overlap, cls_id, sep_id, index)
        windows_total += len(windows)
        coverage_words += covered_words(windows, index, len(document.words))
        total_words += len(document.words)
        (first,) = build_windows(pieces, TRUNCATION_LENGTH, 0, cls_id, sep_id, index, truncate=True)
        cut = first.word_end
        docs_cut += cut < len(document.words)
        lost_words += len(document.words) - cut
        lost_entities += sum(span.end > cut for span in document.spans)
    entities = sum(len(document.spans) for document in documents)
    return {
        "words_per_document": describe([len(d.words) for d in documents]),
        "wordpieces_per_document": describe(pieces_per_doc),
        "documents_over_512_wordpieces": sum(n > TRUNCATION_LENGTH - 2 for n in pieces_per_doc),
        "window_word_coverage": coverage_words / total_words,
        "windows": windows_total,
        "max_length": max_length,
        "overlap": overlap,
        "truncation_lost_entities": lost_entities,
        "truncation_lost_entity_share": lost_entities / entities if entities else 0.0,
        "truncation_lost_words": lost_words,
        "truncation_cut_documents": docs_cut,
    }


def length_measure(config: DataConfig) -> Callable[[list[Document]], dict[str, Any]]:
    """The data stage's measurement of a corpus with the tokenizer and windows of `config` (the tokenizer
    is loaded when measuring)."""

    def measure(documents: list[Document]) -> dict[str, Any]:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(resolve_model(config.tokenizer_model))
        return length_statistics(documents, tokenizer, config.max_length, config.overlap)

    return measure
