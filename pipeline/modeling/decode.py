"""From window outputs to one IOB2 tag and confidence per word.

Shared by training-time validation and by prediction so that both score exactly the same way.
Each word takes the scores of the window where it lies farthest from a window edge
(`features.best_window_positions`); the argmax tag sequence is then repaired to valid IOB2 (an
`I-X` after `O` or after another type starts a new entity). A word's confidence is the maximum
softmax probability, i.e. the probability of the tag the model chose.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.core.tags import OUTSIDE, repair_iob2
from pipeline.modeling.features import Window, best_window_positions

UNSEEN_CONFIDENCE = 0.0  # words a truncated model never saw: predicted O with no confidence


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def merge_window_scores(
    windows: Sequence[Window], window_scores: Sequence[np.ndarray], n_words: int, allow_uncovered: bool = False
) -> np.ndarray:
    """(n_words, n_labels) scores; rows of words in no window are NaN (truncation only)."""
    positions = best_window_positions(windows, n_words, allow_uncovered)
    n_labels = window_scores[0].shape[-1]
    merged = np.full((n_words, n_labels), np.nan, dtype=np.float32)
    for word, choice in enumerate(positions):
        if choice is not None:
            merged[word] = window_scores[choice[0]][choice[1]]
    return merged


def decode_words(probabilities: np.ndarray, id2tag: dict[int, str]) -> tuple[list[str], list[float]]:
    """Valid IOB2 tags and per-word confidences from (n_words, n_labels) probabilities."""
    tags, confidence = [], []
    for row in probabilities:
        if np.isnan(row).any():
            tags.append(OUTSIDE)
            confidence.append(UNSEEN_CONFIDENCE)
            continue
        best = int(row.argmax())
        tags.append(id2tag[best])
        confidence.append(float(row[best]))
    tags, _ = repair_iob2(tags)
    return tags, confidence


def group_by_document(
    windows: Sequence[Window], outputs: Sequence[np.ndarray]
) -> dict[int, tuple[list[Window], list[np.ndarray]]]:
    """Windows and their outputs per document index, in window order."""
    grouped: dict[int, tuple[list[Window], list[np.ndarray]]] = {}
    for window, output in zip(windows, outputs):
        entry = grouped.setdefault(window.document, ([], []))
        entry[0].append(window)
        entry[1].append(output)
    return grouped
