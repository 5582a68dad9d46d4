"""CRF baseline (`python -m pipeline train --model crf`): sklearn-crfsuite on standard word features.

It writes the same run directory as a transformer run, so the comparison matrix is meaningful on
CPU. Word confidence is the CRF's marginal probability of the predicted tag, the analogue of a
softmax maximum; the decoded sequence is repaired to valid IOB2 like every other prediction.
"""

from __future__ import annotations

import dataclasses
import pickle
import time
from pathlib import Path
from typing import Any, Sequence

from pipeline.config import CRFConfig, run_name
from pipeline.data.prepare import load_prepared
from pipeline.core.errors import ConfigError
from pipeline.core.files import atomic_write_bytes, write_json
from pipeline.core.layout import (peak_cpu_memory_mb, prediction_record, run_config, runs_dir, write_metrics,
                           write_predictions)
from pipeline.evaluation.metrics import strict_scores
from pipeline.core.tags import repair_iob2
from pipeline.training.tracking import log_run, start_tracking

MODEL_NAME = "crf"


def word_shape(word: str) -> str:
    """`Xxxx` -> `Xx`, `12.5` -> `d.d`: character classes with repeats collapsed."""
    shape = []
    for char in word:
        kind = "X" if char.isupper() else "x" if char.islower() else "d" if char.isdigit() else char
        if not shape or shape[-1] != kind:
            shape.append(kind)
    return "".join(shape)


def word_features(words: Sequence[str], index: int) -> dict[str, Any]:
    """The usual CoNLL-style features of a word and of its neighbours at distance 1 and 2."""
    word = words[index]
    features: dict[str, Any] = {
        "bias": 1.0, "lower": word.lower(), "suffix3": word[-3:].lower(), "suffix2": word[-2:].lower(),
        "prefix3": word[:3].lower(), "is_upper": word.isupper(), "is_title": word.istitle(),
        "is_digit": word.isdigit(), "has_digit": any(c.isdigit() for c in word), "shape": word_shape(word),
        "length": min(len(word), 10),
    }
    for offset in (-2, -1, 1, 2):
        position = index + offset
        if 0 <= position < len(words):
            neighbour = words[position]
            features.update({f"{offset}:lower": neighbour.lower(), f"{offset}:is_title": neighbour.istitle(),
                             f"{offset}:is_upper": neighbour.isupper(), f"{offset}:shape": word_shape(neighbour)})
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


def train_crf(config: CRFConfig) -> Path:
    import sklearn_crfsuite

    prepared = load_prepared(config.output_dir)
    if not prepared.parts["test"]:
        raise ConfigError("the test part is empty: rebuild the data with a test size above 0")
    name = run_name(MODEL_NAME)
    run_dir = runs_dir(config.output_dir) / name
    run_dir.mkdir(parents=True, exist_ok=True)
    record = run_config(name, MODEL_NAME, dataclasses.asdict(config), prepared.summary, prepared.split,
                        prepared.tag2id)
    tracker = start_tracking(name, run_dir, record, config.wandb)
    record["wandb_mode"] = tracker.mode
    write_json(run_dir / "config.json", record)

    train = prepared.parts["train"]
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=config.c1, c2=config.c2, max_iterations=config.max_iterations,
                               all_possible_transitions=True, verbose=False)
    started = time.perf_counter()
    crf.fit([document_features(d.words) for d in train], [d.tags for d in train])
    seconds = time.perf_counter() - started
    atomic_write_bytes(run_dir / "model" / "crf.pkl", pickle.dumps(crf))
    write_json(run_dir / "model" / "tags.json",
               {"tag2id": prepared.tag2id, "id2tag": {str(i): t for i, t in prepared.id2tag.items()}})

    metrics: dict[str, Any] = {"run": name, "model": MODEL_NAME}
    predictions: dict[str, list[dict[str, Any]]] = {}
    for part in ("validation", "test"):
        documents = prepared.parts[part]
        results = predict_crf(crf, [d.words for d in documents])
        predictions[part] = [prediction_record(d.id, d.words, d.tags, tags, confidence)
                             for d, (tags, confidence) in zip(documents, results)]
        write_predictions(run_dir, part, predictions[part])
        metrics[part] = strict_scores([d.tags for d in documents], [tags for tags, _ in results])
    parameters = len(crf.state_features_) + len(crf.transition_features_)
    metrics.update({"epochs": [], "train_seconds": seconds, "peak_memory_mb": peak_cpu_memory_mb(),
                    "peak_memory_kind": "cpu_peak_rss", "parameters": parameters, "long_docs": "whole document"})
    write_metrics(run_dir, metrics)
    record["parameters"] = parameters
    write_json(run_dir / "config.json", record)
    log_run(tracker, name, run_dir, metrics, predictions, config.wandb_log_text)
    return run_dir
