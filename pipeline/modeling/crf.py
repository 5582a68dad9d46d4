"""CRF baseline (`python -m pipeline train --model crf`): sklearn-crfsuite on standard word features.

`pipeline.training.train` records it in the same run directory as a transformer run, so the
comparison matrix is meaningful on CPU. Word confidence is the CRF's marginal probability of the predicted tag, the analogue of a
softmax maximum; the decoded sequence is repaired to valid IOB2 like every other prediction.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import CRFConfig
from pipeline.core.documents import Document
from pipeline.core.errors import MissingInputError
from pipeline.core.files import atomic_write_bytes
from pipeline.core.tags import repair_iob2

MODEL_NAME = "crf"


def word_shape(word: str) -> str:
    """`Xxxx` -> `Xx`, `12.5` -> `d.d`: character classes with repeats collapsed."""
    shape: list[str] = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.islower() else "d" if char.isdigit() else char
        if not shape or shape[-1] != kind:
            shape.append(kind)
    return "".join(shape)


def word_features(words: Sequence[str], index: int) -> dict[str, Any]:
    """The usual CoNLL-style features of a word and of its neighbours at distance 1 and 2."""
    word = words[index]
    features: dict[str, Any] = {
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
    for offset in (-2, -1, 1, 2):
        position = index + offset
        if 0 <= position < len(words):
            neighbour = words[position]
            features.update(
                {
                    f"{offset}:lower": neighbour.lower(),
                    f"{offset}:is_title": neighbour.istitle(),
                    f"{offset}:is_upper": neighbour.isupper(),
                    f"{offset}:shape": word_shape(neighbour),
                }
            )
        else:
            features[f"{offset}:edge"] = True
    return features


def document_features(words: Sequence[str]) -> list[dict[str, Any]]:
    return [word_features(words, index) for index in range(len(words))]


def predict_crf(crf: Any, documents: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
    """(IOB2 tags, marginal probability of each predicted tag) per document."""
    features = [document_features(words) for words in documents]
    results = []
    for tags, marginals in zip(crf.predict(features), crf.predict_marginals(features)):
        confidence = [float(marginal[tag]) for tag, marginal in zip(tags, marginals)]
        results.append((repair_iob2(list(tags))[0], confidence))
    return results


def fit_crf(config: CRFConfig, documents: Sequence[Document]) -> Any:
    """An L-BFGS CRF with elastic-net regularisation fitted on the documents' words and tags."""
    import sklearn_crfsuite

    crf = sklearn_crfsuite.CRF(
        algorithm="lbfgs",
        c1=config.c1,
        c2=config.c2,
        max_iterations=config.max_iterations,
        all_possible_transitions=True,
        verbose=False,
    )
    crf.fit([document_features(d.words) for d in documents], [d.tags for d in documents])
    return crf


def crf_parameters(crf: Any) -> int:
    return len(crf.state_features_) + len(crf.transition_features_)


def save_crf(crf: Any, path: Path) -> None:
    atomic_write_bytes(path, pickle.dumps(crf))


def load_crf(path: Path) -> Any:
    """The CRF `save_crf` wrote (a pickle this project made itself, not an outside file)."""
    if not path.exists():
        raise MissingInputError(f"{path}: no CRF model here (is the run a finished CRF run?)")
    return pickle.loads(path.read_bytes())
