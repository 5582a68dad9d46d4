"""From window outputs to one IOB2 tag and confidence per word.

Shared by training-time validation and by prediction so that both score exactly the same way.
Each word takes the scores of the window where it lies farthest from a window edge
(`features.best_window_positions`). Two decoders turn the per-word distributions into tags:

    viterbi  (default) the most probable tag sequence that is valid IOB2: `I-X` only after `B-X` or
             `I-X`, never first. It maximises the product of the chosen tags' probabilities, so a
             confident `I-X` can pull the word before it from `O` into `B-X` instead of being cut off.
    argmax   each word's most probable tag, then repaired to valid IOB2 (an `I-X` after `O` or after
             another type starts a new entity).

A word's confidence is, under both, the probability the distribution gives the tag chosen for it:
the softmax maximum under argmax, and at most that under Viterbi (lower where the sequence constraint
overrode the word's own best tag), so a confidence threshold still flags the words the model doubts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.core.errors import ConfigError
from pipeline.core.tags import OUTSIDE, parse_tag, repair_iob2
from pipeline.modeling.features import Window, best_window_positions

UNSEEN_CONFIDENCE = 0.0  # words a truncated model never saw: predicted O with no confidence
DECODERS = ("viterbi", "argmax")
LOG_FLOOR = 1e-30  # probabilities that underflowed to 0 stay comparable in log space
VITERBI_POSITIONS = 1 << 16  # words x documents decoded together: ~12 bytes x tags each


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


def decode_words(
    probabilities: np.ndarray, id2tag: dict[int, str], decoder: str = "viterbi"
) -> tuple[list[str], list[float]]:
    """Valid IOB2 tags and per-word confidences from (n_words, n_labels) probabilities; NaN rows
    (words no window covered) are `O` with confidence `UNSEEN_CONFIDENCE`."""
    return decode_documents([probabilities], id2tag, decoder)[0]


def decode_documents(
    probabilities: Sequence[np.ndarray], id2tag: dict[int, str], decoder: str = "viterbi"
) -> list[tuple[list[str], list[float]]]:
    """`decode_words` of each document; Viterbi steps through all documents together (one pass over
    the longest), which is what makes decoding cheap beside the encoder."""
    if decoder == "viterbi":
        return [decoded for group in padded_groups(probabilities) for decoded in viterbi_decode(group, id2tag)]
    if decoder == "argmax":
        return [argmax_decode(rows, id2tag) for rows in probabilities]
    raise ConfigError(f"unknown decoder {decoder!r}; choose one of {', '.join(DECODERS)}")


def padded_groups(documents: Sequence[np.ndarray], positions: int = VITERBI_POSITIONS) -> list[list[np.ndarray]]:
    """Consecutive documents in groups whose padded size (documents x longest) stays within `positions`
    (a document longer than that is a group of its own), so decoding many long notes stays in bounded memory."""
    groups: list[list[np.ndarray]] = []
    longest = 0
    for rows in documents:
        if groups and (len(groups[-1]) + 1) * max(longest, len(rows)) <= positions:
            groups[-1].append(rows)
            longest = max(longest, len(rows))
        else:
            groups.append([rows])
            longest = len(rows)
    return groups


def argmax_decode(probabilities: np.ndarray, id2tag: dict[int, str]) -> tuple[list[str], list[float]]:
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


def allowed_transitions(id2tag: dict[int, str]) -> tuple[np.ndarray, np.ndarray]:
    """(allowed[previous, current], allowed_first[current]) of IOB2 over tag ids 0..n-1."""
    parsed = [parse_tag(id2tag[index]) for index in range(len(id2tag))]
    allowed = np.ones((len(parsed), len(parsed)), dtype=bool)
    first = np.ones(len(parsed), dtype=bool)
    for current, (prefix, entity_type) in enumerate(parsed):
        if prefix == "I":
            first[current] = False
            allowed[:, current] = [previous_type == entity_type for _, previous_type in parsed]
    return allowed, first


def inside_predecessors(allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inside, first, second) from `allowed_transitions`: each `I-X` tag id and the two tags that may
    precede it, the lower id first (`B-X` and `I-X`; `I-X` twice when the tag set has no `B-X`). Every
    other tag may follow any."""
    inside = [tag for tag in range(len(allowed)) if not allowed[:, tag].all()]
    previous = [np.flatnonzero(allowed[:, tag]) for tag in inside]
    first = np.array([p[0] for p in previous], dtype=np.int64)
    second = np.array([p[-1] for p in previous], dtype=np.int64)
    return np.array(inside, dtype=np.int64), first, second


def viterbi_decode(documents: Sequence[np.ndarray], id2tag: dict[int, str]) -> list[tuple[list[str], list[float]]]:
    """The valid IOB2 sequence of highest probability (product over words) of each document, by Viterbi
    in log space. IOB2 lets every tag but `I-X` follow anything, so a step needs only the best previous
    tag overall and, for each `I-X`, the better of `B-X` and `I-X` (ties go to the lower tag id, as a
    full argmax over the transition matrix would): O(tags) per word instead of O(tags^2)."""
    if not documents:
        return []
    n_tags, lengths = len(id2tag), [len(rows) for rows in documents]
    longest, count = max(lengths), len(documents)
    if longest == 0:
        return [([], []) for _ in documents]
    outside = {tag: index for index, tag in id2tag.items()}[OUTSIDE]
    emissions = np.zeros((count, longest, n_tags))  # path scores add up in float64
    unseen = np.zeros((count, longest), dtype=bool)
    for index, rows in enumerate(documents):
        unseen[index, : len(rows)] = np.isnan(rows).any(axis=1)
        emissions[index, : len(rows)] = np.log(np.maximum(np.nan_to_num(rows, nan=0.0), LOG_FLOOR))
    emissions[unseen] = -np.inf
    emissions[unseen, outside] = 0.0  # unseen words are forced to O
    allowed, may_start = allowed_transitions(id2tag)
    inside, first, second = inside_predecessors(allowed)
    score = np.where(may_start, emissions[:, 0], -np.inf)
    back = np.zeros((count, longest, n_tags), dtype=np.int32)
    rows_ = np.arange(count)
    active = np.array(lengths)[:, None] > np.arange(longest)[None, :]
    for word in range(1, longest):
        best = score.argmax(axis=1)
        step = score[rows_, best][:, None] + emissions[:, word]
        from_first, from_second = score[:, first], score[:, second]
        take_second = from_second > from_first
        step[:, inside] = np.where(take_second, from_second, from_first) + emissions[:, word, inside]
        back[:, word] = best[:, None]
        back[:, word, inside] = np.where(take_second, second, first)
        score = np.where(active[:, word, None], step, score)  # a finished document keeps its last scores
    decoded: list[tuple[list[str], list[float]]] = []
    for index, rows in enumerate(documents):
        n_words = lengths[index]
        if n_words == 0:
            decoded.append(([], []))
            continue
        path = [int(score[index].argmax())]
        trail = back[index]
        for word in range(n_words - 1, 0, -1):
            path.append(int(trail[word, path[-1]]))
        path.reverse()
        chosen = rows[np.arange(n_words), path]
        confidence = np.where(unseen[index, :n_words], UNSEEN_CONFIDENCE, chosen).astype(float).tolist()
        decoded.append(([id2tag[tag] for tag in path], confidence))
    return decoded


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
