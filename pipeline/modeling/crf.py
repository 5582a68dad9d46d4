"""CRF baseline (`python -m pipeline train --model crf`): sklearn-crfsuite on standard word features.

`pipeline.training.train` records it in the same run directory as a transformer run, so the
comparison matrix is meaningful on CPU. Word confidence is the CRF's marginal probability of the predicted tag, the analogue of a
softmax maximum; the decoded sequence is repaired to valid IOB2 like every other prediction.

crfsuite trains the CRF and finds its best tag sequence (Viterbi, in C). The marginals are computed here
in numpy instead of through python-crfsuite's `marginal(label, position)`, one Python call per word and
tag (~50 ms a note with 83 tags): the weights are read once from the model file crfsuite wrote (its exact
doubles; `transition_features_`/`state_features_` come from a text dump rounded to 6 decimals), the state
scores of a call's words are sparse matrix products (`state_scores`) of per-word parts kept across calls
(`PartRows`: a word seen before is not featurised again), and a scaled forward-backward steps through all
documents of the call at once (`forward_backward`). They equal crfsuite's to 1e-6 (tests/test_crf.py).
"""

from __future__ import annotations

import functools
import pickle
import struct
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.documents import Document
from pipeline.core.errors import CorruptOutputError, MissingInputError
from pipeline.core.files import atomic_write_bytes
from pipeline.core.layout import RunFolder, read_tags, write_tags
from pipeline.core.tags import repair_iob2
from pipeline.modeling.trainer import LabelSetMismatch

MODEL_NAME = "crf"
MODEL_HEADER = struct.Struct("<4sI4sIIIIIIIII")  # crfsuite's CRF1d model file header (lib/crf/src/crf1d_model.c)
CQDB_HEADER = struct.Struct("<4sIIIII")  # chunk id, size, flag, byte order, backward-array size and offset
FEATURE = np.dtype([("type", "<u4"), ("source", "<u4"), ("target", "<u4"), ("weight", "<f8")])
STATE, TRANSITION = 0, 1  # a feature's type: (attribute, label) or (label, next label)
MARGINAL_WORDS = 1 << 15  # words in one forward-backward pass: 24 bytes x tags each, and its marginals


@functools.lru_cache(maxsize=1 << 16)
def word_shape(word: str) -> str:
    """`Xxxx` -> `Xx`, `12.5` -> `d.d`: character classes with repeats collapsed."""
    shape: list[str] = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.islower() else "d" if char.isdigit() else char
        if not shape or shape[-1] != kind:
            shape.append(kind)
    return "".join(shape)


NEIGHBOURS = (-2, -1, 1, 2)  # offsets of the words whose features a word also gets


def own_features(word: str) -> dict[str, Any]:
    """The features of a word itself."""
    return {
        "bias": 1.0,
        "lower": word.lower(),
        "suffix3": word[-3:].lower(),
        "suffix2": word[-2:].lower(),
        "prefix3": word[:3].lower(),
        "is_upper": word.isupper(),
        "is_title": word.istitle(),
        "is_digit": word.isdigit(),
        "has_digit": any(c.isdigit() for c in word),
        "shape": word_shape(word),
        "length": min(len(word), 10),
    }


def neighbour_features(neighbour: str | None, offset: int) -> dict[str, Any]:
    """What a word gets from its neighbour at `offset`, or from the document's edge (None) there."""
    if neighbour is None:
        return {f"{offset}:edge": True}
    return {
        f"{offset}:lower": neighbour.lower(),
        f"{offset}:is_title": neighbour.istitle(),
        f"{offset}:is_upper": neighbour.isupper(),
        f"{offset}:shape": word_shape(neighbour),
    }


def word_features(words: Sequence[str], index: int) -> dict[str, Any]:
    """The usual CoNLL-style features of a word and of its neighbours at distance 1 and 2: each part
    depends on one word (or an edge) only, which is what lets `state_scores` score each distinct word once."""
    features = own_features(words[index])
    for offset in NEIGHBOURS:
        position = index + offset
        features.update(neighbour_features(words[position] if 0 <= position < len(words) else None, offset))
    return features


def document_features(words: Sequence[str]) -> list[dict[str, Any]]:
    return [word_features(words, index) for index in range(len(words))]


def predict_crf(crf: Any, documents: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
    """(IOB2 tags, marginal probability of each predicted tag) per document: crfsuite's Viterbi tags."""
    features = [document_features(words) for words in documents]
    weights = crf_weights(crf)
    label_ids = {label: index for index, label in enumerate(weights.labels)}
    results = []
    for tags, marginals in zip(crf.predict(features), crf_marginals(weights, documents)):
        chosen = marginals[np.arange(len(tags)), np.array([label_ids[tag] for tag in tags], dtype=np.int64)]
        results.append((repair_iob2(list(tags))[0], chosen.tolist()))
    return results


def fit_crf(
    documents: Sequence[Document], c1: float, c2: float, max_iterations: int, features: list | None = None
) -> Any:
    """An L-BFGS CRF with elastic-net regularisation fitted on the documents' words and tags
    (`features`: their `document_features`, when already computed)."""
    import sklearn_crfsuite

    crf = sklearn_crfsuite.CRF(
        algorithm="lbfgs", c1=c1, c2=c2, max_iterations=max_iterations, all_possible_transitions=True, verbose=False
    )
    crf.fit(features or [document_features(d.words) for d in documents], [d.tags for d in documents])
    return crf


def crf_parameters(crf: Any) -> int:
    return len(crf.state_features_) + len(crf.transition_features_)


def save_crf(crf: Any, path: Path) -> None:
    atomic_write_bytes(path, pickle.dumps(crf))


def load_crf(path: Path) -> Any:
    """A CRF saved by `save_crf` (a pickle this pipeline wrote: load only run folders you trust), its weights
    read for the marginals (`crf_weights`) now rather than on the first prediction."""
    if not path.exists():
        raise MissingInputError(
            f"{path} not found: is its run a finished CRF run (python -m pipeline train --model crf)?"
        )
    with open(path, "rb") as handle:
        crf = pickle.load(handle)
    crf_weights(crf)
    return crf


@dataclass(frozen=True)
class CRFWeights:
    """A trained crfsuite CRF's parameters as arrays: what its marginals need."""

    labels: tuple[str, ...]  # in crfsuite's label ids
    columns: dict[str, int]  # attribute (`lower:fever`, `is_title`) -> its column of words x attributes
    state: Any  # scipy.sparse CSR (attributes, labels): the state feature weights, a row per column
    transition: np.ndarray  # (labels, labels): the weight of label i followed by label j
    parts: PartRows = field(default_factory=lambda: PartRows(), compare=False, repr=False)  # words' scores kept


WEIGHTS: weakref.WeakKeyDictionary[Any, CRFWeights] = weakref.WeakKeyDictionary()  # per CRF object


def crf_weights(crf: Any) -> CRFWeights:
    """The weights of a fitted sklearn-crfsuite CRF, read from its model file once per CRF object."""
    if crf not in WEIGHTS:
        path = Path(crf.modelfile.name)
        weights = read_crfsuite_model(path.read_bytes(), str(path))
        if list(weights.labels) != list(crf.classes_):
            raise CorruptOutputError(f"{path}: labels {weights.labels[:5]} differ from its tagger's")
        WEIGHTS[crf] = weights
    return WEIGHTS[crf]


def read_crfsuite_model(data: bytes, source: str) -> CRFWeights:
    """The labels, attributes and feature weights of a crfsuite CRF1d model file (`source` names it in errors).

    Layout (crfsuite's crf1d_model.c, little-endian): a 48-byte header with the offsets of the feature chunk
    ("FEAT": 12-byte header, then 20 bytes a feature: type, source, target, weight as a double) and of the
    label and attribute string tables (CQDB chunks, whose backward array gives each id's string)."""
    if len(data) < MODEL_HEADER.size:
        raise CorruptOutputError(f"{source}: {len(data)} bytes, too short for a crfsuite model")
    magic, _, kind, version, _, n_labels, n_attributes, features_at, labels_at, attributes_at, *_ = (
        MODEL_HEADER.unpack_from(data)
    )
    if (magic, kind, version) != (b"lCRF", b"FOMC", 100):
        raise CorruptOutputError(f"{source}: not a crfsuite CRF1d model (magic {magic!r}, type {kind!r}, {version})")
    chunk, _, count = struct.unpack_from("<4sII", data, features_at)
    if chunk != b"FEAT":
        raise CorruptOutputError(f"{source}: no feature chunk at byte {features_at}")
    features = np.frombuffer(data, FEATURE, count, features_at + 12)
    labels = cqdb_strings(data, labels_at, n_labels, source)
    attributes = cqdb_strings(data, attributes_at, n_attributes, source)
    from scipy.sparse import csr_matrix

    state = features[features["type"] == STATE]
    transitions = features[features["type"] == TRANSITION]
    transition = np.zeros((n_labels, n_labels))
    transition[transitions["source"], transitions["target"]] = transitions["weight"]
    return CRFWeights(
        labels=tuple(labels),
        columns={attribute: index for index, attribute in enumerate(attributes)},
        state=csr_matrix((state["weight"], (state["source"], state["target"])), shape=(n_attributes, n_labels)),
        transition=transition,
    )


def cqdb_strings(data: bytes, offset: int, count: int, source: str) -> list[str]:
    """The strings of ids 0..count-1 of the CQDB chunk at `offset`: the backward array holds, per id, the
    offset of its record (id, size with the closing NUL, UTF-8 bytes)."""
    chunk, _, _, _, backward_size, backward_at = CQDB_HEADER.unpack_from(data, offset)
    if chunk != b"CQDB" or backward_size < count:
        raise CorruptOutputError(f"{source}: no string table of {count} entries at byte {offset}")
    strings = []
    for record in np.frombuffer(data, "<u4", count, offset + backward_at).tolist():
        start = offset + record + 8
        (size,) = struct.unpack_from("<I", data, start - 4)
        strings.append(data[start : start + size - 1].decode("utf-8"))
    return strings


def attribute_scores(weights: CRFWeights, features: Sequence[dict[str, Any]]) -> np.ndarray:
    """(len(features), labels): the state scores of feature dicts, one sparse product. An attribute is named
    and valued as python-crfsuite passes it to crfsuite: a string value joins its name (`lower:fever`,
    value 1), a number or bool is the value; attributes the model does not know count for nothing, as
    in crfsuite."""
    from scipy.sparse import csr_matrix

    items = [item for features_ in features for item in features_.items()]
    columns = np.fromiter(
        (weights.columns.get(f"{name}:{value}" if type(value) is str else name, -1) for name, value in items),
        dtype=np.int64,
        count=len(items),
    )
    values = np.fromiter((1.0 if type(value) is str else value for _, value in items), dtype=float, count=len(items))
    rows = np.repeat(np.arange(len(features)), [len(item) for item in features])
    known = columns >= 0
    shape = (len(features), len(weights.columns))
    attributes = csr_matrix((values[known], (rows[known], columns[known])), shape=shape)
    return (attributes @ weights.state).toarray()


PART_ROWS_BYTES = 1 << 26  # per CRF: the state-score parts kept of the words seen in earlier calls


class PartRows:
    """The state-score parts of the words a CRF has scored, kept across calls: a word's own part and each
    neighbour offset's part are functions of that word alone (`own_features`, `neighbour_features`), so a
    word seen before is neither featurised nor multiplied again; in clinical notes most words of a new note
    were seen. A row is computed alone whatever else a call holds (`attribute_scores` is row by row), so a
    kept row is exactly what scoring the word again gives. Bounded by `capacity_bytes`: when the new
    words of a call do not fit, it starts again with that call's words."""

    def __init__(self, capacity_bytes: int = PART_ROWS_BYTES) -> None:
        self.capacity_bytes = capacity_bytes
        self.slots: dict[str, int] = {}  # word -> its slot; slot 0 holds the document edge's parts
        self.rows = np.zeros((0, 0, 0))  # (1 + len(NEIGHBOURS), slots, labels): own part, each offset's part
        # slots past 1 + len(self.slots) are room to grow into

    def capacity(self, n_labels: int) -> int:
        """The most words kept (besides the edge's slot) for a CRF of `n_labels` labels."""
        return max(1, self.capacity_bytes // ((1 + len(NEIGHBOURS)) * max(n_labels, 1) * 8) - 1)

    def snapshot(self) -> tuple[dict[str, int], np.ndarray]:
        """The words kept now, to come back to (`restore`): bench times every pass from the same cache."""
        return dict(self.slots), self.rows.copy()

    def restore(self, snapshot: tuple[dict[str, int], np.ndarray]) -> None:
        self.slots, self.rows = dict(snapshot[0]), snapshot[1].copy()

    def lookup(self, weights: CRFWeights, words: Sequence[str]) -> np.ndarray:
        """The slots of the distinct `words`, scoring the words not kept yet (all of them, once the kept
        ones and the new ones would exceed the capacity: a call always finds its words kept)."""
        new = [word for word in words if word not in self.slots]
        capacity = self.capacity(len(weights.labels))
        if len(self.slots) + len(new) > capacity or not len(self.rows):
            self.slots.clear()
            new = list(words)
            edges = [neighbour_features(None, offset) for offset in NEIGHBOURS]
            self.rows = np.zeros((1 + len(NEIGHBOURS), 1 + len(new), len(weights.labels)))
            self.rows[1:, 0] = attribute_scores(weights, edges)
        elif 1 + len(self.slots) + len(new) > self.rows.shape[1]:  # grown by doubling: a copy now and then
            size = min(max(1 + len(self.slots) + len(new), 2 * self.rows.shape[1]), 1 + capacity)
            grown = np.zeros((len(self.rows), size, len(weights.labels)))
            grown[:, : 1 + len(self.slots)] = self.rows[:, : 1 + len(self.slots)]
            self.rows = grown
        if new:
            first = 1 + len(self.slots)
            scored = attribute_scores(
                weights,
                [own_features(word) for word in new]
                + [neighbour_features(word, offset) for offset in NEIGHBOURS for word in new],
            )
            self.rows[:, first : first + len(new)] = scored.reshape(len(self.rows), len(new), -1)
            self.slots.update(zip(new, range(first, first + len(new))))
        return np.fromiter((self.slots[word] for word in words), dtype=np.int64, count=len(words))


def state_scores(weights: CRFWeights, documents: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """(n_words, labels) state scores of each document's words: the weights of their `word_features`.

    A word's features are its own and one part per neighbour offset, each a function of one word or of
    the document's edge (`own_features`, `neighbour_features`). So every part of a word is scored once
    and kept (`PartRows`, one per CRF; a call larger than its capacity uses its own), and each position's
    score is the sum of its five parts' rows (a sparse product with five ones a row)."""
    from scipy.sparse import csr_matrix

    distinct: dict[str, int] = {}
    ids = np.array([distinct.setdefault(word, len(distinct)) for words in documents for word in words], dtype=np.int64)
    lengths = np.array([len(words) for words in documents], dtype=np.int64)
    if not documents:
        return []
    kept = weights.parts
    if len(distinct) > kept.capacity(len(weights.labels)):
        kept = PartRows(capacity_bytes=(1 + len(NEIGHBOURS)) * len(weights.labels) * 8 * (len(distinct) + 2))
    slots = kept.lookup(weights, list(distinct))[ids]  # each position's word's slot
    n_words, n_parts, n_slots = len(ids), 1 + len(NEIGHBOURS), kept.rows.shape[1]
    position = np.arange(n_words) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # index in its document
    length = np.repeat(lengths, lengths)
    parts = np.empty((n_words, n_parts), dtype=np.int64)  # rows of the kept table (parts x slots, labels)
    parts[:, 0] = slots
    for part, offset in enumerate(NEIGHBOURS, start=1):
        inside = (position + offset >= 0) & (position + offset < length)
        neighbour = slots[np.clip(np.arange(n_words) + offset, 0, max(n_words - 1, 0))]
        parts[:, part] = part * n_slots + np.where(inside, neighbour, 0)  # slot 0: the edge's part
    selection = csr_matrix(
        (np.ones(parts.size), parts.ravel(), np.arange(0, parts.size + 1, n_parts)), shape=(n_words, n_parts * n_slots)
    )
    scores = selection @ kept.rows.reshape(n_parts * n_slots, -1)
    return np.split(scores, np.cumsum(lengths)[:-1])


def word_groups(documents: Sequence[np.ndarray], words: int) -> list[list[np.ndarray]]:
    """Consecutive documents in groups of at most `words` words (a longer document is a group of its own)."""
    groups: list[list[np.ndarray]] = []
    total = 0
    for rows in documents:
        if groups and total + len(rows) <= words:
            groups[-1].append(rows)
            total += len(rows)
        else:
            groups.append([rows])
            total = len(rows)
    return groups


def crf_marginals(weights: CRFWeights, documents: Sequence[Sequence[str]]) -> list[np.ndarray]:
    """(n_words, labels) marginal probabilities of each document's words, labels in crfsuite's order: the
    state scores of the whole call, then forward-backward over groups of documents of at most
    `MARGINAL_WORDS` words."""
    return [
        marginals
        for group in word_groups(state_scores(weights, documents), MARGINAL_WORDS)
        for marginals in forward_backward(group, weights.transition)
    ]


SCALE_BUDGET = 300.0  # natural-log range a forward or backward vector may drift through between rescalings


def forward_backward(documents: Sequence[np.ndarray], transition: np.ndarray) -> list[np.ndarray]:
    """Marginal probabilities of a linear-chain CRF (no start or end weights, as crfsuite's CRF1d) from each
    document's (n_words, labels) state scores, all documents stepped together.

    Scaled forward-backward, as crfsuite computes it: exponentials of the scores (each word's shifted by
    its maximum, the transitions by theirs) and vectors rescaled to sum 1 as they go; a word's marginals
    are its forward x backward product normalised, which the scales cancel out of. A step changes a
    vector's sum by a factor between exp(-spread of the transition weights) and the number of labels, so
    rescaling every `SCALE_BUDGET` / log(that factor) steps keeps both vectors, and their product, far
    inside a double's range: the log-space values with one small matrix product per word and no
    exponential, logarithm or reduction in most steps.

    The words are packed word-major with the documents longest first, so the documents that have a word
    at a position are the first rows of that position's block: a step multiplies only those, and memory
    is the call's words, not documents x the longest."""
    lengths = np.array([len(rows) for rows in documents], dtype=np.int64)
    longest, n_labels = int(lengths.max(initial=0)), len(transition)
    if longest == 0:
        return [np.zeros((0, n_labels)) for _ in documents]
    spread = float(np.ptp(transition))
    if spread > SCALE_BUDGET:
        raise ValueError(f"CRF transition weights spread over {spread:.0f}, more than {SCALE_BUDGET:.0f}")
    every = max(1, int(SCALE_BUDGET // max(spread, np.log(n_labels), 1.0)))
    order = np.argsort(-lengths, kind="stable")  # longest first
    active = len(lengths) - np.searchsorted(np.sort(lengths), np.arange(longest), side="right")  # with a word there
    starts = np.concatenate(([0], np.cumsum(active)))  # each position's block of rows
    rank = np.empty(len(documents), dtype=np.int64)
    rank[order] = np.arange(len(documents))
    position = np.concatenate([np.arange(length) for length in lengths])
    packed = starts[position] + np.repeat(rank, lengths)  # each word's row, in call order
    scores = np.concatenate(documents)
    emission = np.empty_like(scores)
    emission[packed] = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights = np.exp(transition - transition.max())
    start, count = starts.tolist(), active.tolist()
    forward = np.empty_like(emission)
    forward[: count[0]] = emission[: count[0]]
    for word in range(1, longest):
        block = forward[start[word] : start[word + 1]]
        np.matmul(forward[start[word - 1] : start[word - 1] + count[word]], weights, out=block)
        block *= emission[start[word] : start[word + 1]]
        if word % every == 0:
            block /= block.sum(axis=1, keepdims=True)
    backward = np.ones_like(emission)  # a document's last word starts from ones
    scratch = np.empty((count[0], n_labels))
    for word in range(longest - 1, 0, -1):
        following = scratch[: count[word]]
        np.multiply(emission[start[word] : start[word + 1]], backward[start[word] : start[word + 1]], out=following)
        rows = backward[start[word - 1] : start[word - 1] + count[word]]
        np.matmul(following, weights.T, out=rows)
        if word % every == 0:
            rows /= rows.sum(axis=1, keepdims=True)
    forward *= backward
    forward /= forward.sum(axis=1, keepdims=True)
    return np.split(forward[packed], np.cumsum(lengths)[:-1])


def crf_probabilities(crf: Any, documents: Sequence[Sequence[str]], tag2id: dict[str, int]) -> list[np.ndarray]:
    """(n_words, n_tags) marginals per document in `tag2id`'s order (0 for tags the CRF never saw)."""
    unknown = sorted(set(crf.classes_) - set(tag2id))
    if unknown:
        raise LabelSetMismatch(f"the CRF predicts tags the data does not have: {unknown[:5]}")
    weights = crf_weights(crf)
    columns = [tag2id[label] for label in weights.labels]
    results = []
    for marginals in crf_marginals(weights, documents):
        rows = np.zeros((len(marginals), len(tag2id)), dtype=np.float32)
        rows[:, columns] = marginals
        results.append(rows)
    return results


@dataclass
class CRFTagger:
    """A CRF run ready to tag: a `pipeline.modeling.tagger.Tagger`. Its tags come from crfsuite's Viterbi
    (`predict_crf`), its word probabilities are the marginals in the run's tag order (`crf_probabilities`)."""

    crf: Any  # sklearn_crfsuite.CRF
    id2tag: dict[int, str]
    device: str = "cpu"

    @property
    def tag2id(self) -> dict[str, int]:
        return {tag: index for index, tag in self.id2tag.items()}

    def predict_proba(self, documents: Sequence[Sequence[str]], batch_size: int = 32) -> list[np.ndarray]:
        """(n_words, n_tags) marginals per document (`batch_size` is the transformer's; the CRF takes them all)."""
        return crf_probabilities(self.crf, documents, self.tag2id)

    def predict(self, documents: Sequence[Sequence[str]], batch_size: int = 32) -> list[tuple[list[str], list[float]]]:
        return predict_crf(self.crf, documents)

    def save(self, folder: str | Path) -> None:
        """The run folder's model/crf.pkl and model/tags.json."""
        run = RunFolder(folder)
        save_crf(self.crf, run.crf_model)
        write_tags(run.model_tags, self.tag2id)

    @classmethod
    def load(
        cls,
        folder: str | Path,
        variant: str = "fp32",
        device: str | None = None,
        windows: tuple[int, int] | None = None,
    ) -> CRFTagger:
        """The CRF of the run folder `folder` (`variant`, `device` and `windows` are a transformer's: a CRF
        has one form, on CPU, over whole documents)."""
        run = RunFolder(folder)
        crf = load_crf(run.crf_model)
        if not run.model_tags.exists():
            raise MissingInputError(f"{run.model_tags} not found: is {run.path} a finished CRF run?")
        return cls(crf, read_tags(run.model_tags)[1])
