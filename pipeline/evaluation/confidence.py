"""Confidence analysis (Task 1.6): span confidences, threshold table, reliability, ECE, temperature.

Word confidence is the max softmax probability the run stored per word; a span's confidence is the
minimum over its words (`how="mean"`: the mean), recomputed from the per-word list. A predicted span
is correct when it is a strict true positive. A missed gold span gets the confidence the model had
on its words (in whatever it predicted there, usually `O`).

Temperature scaling: the prediction files hold only the max probability, not logits, so we calibrate
that confidence as a binary "is this span right" probability: p -> sigmoid(logit(p) / T), with T
fitted on validation spans by minimising the negative log-likelihood of their correctness, and
ECE measured on test before and after. T > 1 softens over-confident scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from pipeline.config import THRESHOLDS
from pipeline.core.errors import ConfigError
from pipeline.core.tags import Span
from pipeline.evaluation.metrics import prf, record_spans

EPSILON = 1e-6


def span_confidence(word_confidence: Sequence[float], span: Span, how: str = "min") -> float:
    values = word_confidence[span.start : span.end]
    if how == "min":
        return float(min(values))
    if how == "mean":
        return float(sum(values) / len(values))
    raise ConfigError(f"span confidence must be 'min' or 'mean', not {how!r}")


@dataclass(frozen=True)
class ScoredSpans:
    """Predicted spans (confidence, correct, type, document) and missed gold spans' confidence."""

    confidence: np.ndarray
    correct: np.ndarray
    types: list[str]
    doc_ids: list[str]
    missed_confidence: np.ndarray
    gold_total: int
    gold_types: list[str]


def scored_spans(records: Sequence[dict[str, Any]], how: str = "min") -> ScoredSpans:
    confidence, correct, types, doc_ids, missed, gold_types = [], [], [], [], [], []
    for record in records:
        gold, pred = record_spans(record)
        gold_set, pred_set = set(gold), set(pred)
        for span in pred:
            confidence.append(span_confidence(record["confidence"], span, how))
            correct.append(span in gold_set)
            types.append(span.type)
            doc_ids.append(str(record["id"]))
        missed += [span_confidence(record["confidence"], span, how) for span in gold if span not in pred_set]
        gold_types += [span.type for span in gold]
    return ScoredSpans(
        np.asarray(confidence, dtype=float),
        np.asarray(correct, dtype=bool),
        types,
        doc_ids,
        np.asarray(missed, dtype=float),
        len(gold_types),
        gold_types,
    )


def mean_or_none(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def histograms(spans: ScoredSpans, bins: int = 20) -> dict[str, Any]:
    edges = np.linspace(0, 1, bins + 1)
    return {
        "edges": edges.tolist(),
        "tp": np.histogram(spans.confidence[spans.correct], edges)[0].tolist(),
        "fp": np.histogram(spans.confidence[~spans.correct], edges)[0].tolist(),
        "fn": np.histogram(spans.missed_confidence, edges)[0].tolist(),
    }


def threshold_rows(spans: ScoredSpans, thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, Any]]:
    """Per threshold: precision of the spans at or above it, coverage (share of predicted spans kept)
    and recall of gold spans by the kept spans. No kept span -> precision 0."""
    rows = []
    for threshold in thresholds:
        kept = spans.confidence >= threshold
        tp = int((kept & spans.correct).sum())
        total = len(spans.confidence)
        rows.append(
            {
                "threshold": float(threshold),
                "kept": int(kept.sum()),
                "precision": prf(tp, int(kept.sum()) - tp, 0)["precision"],
                "coverage": float(kept.sum() / total) if total else 0.0,
                "recall": tp / spans.gold_total if spans.gold_total else 0.0,
            }
        )
    return rows


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Equal-width bins over [0, 1]: count, mean confidence and accuracy per bin, and the expected
    calibration error sum_b (n_b / N) |accuracy_b - confidence_b|."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        in_bin = which == b
        n = int(in_bin.sum())
        mean_conf = float(confidence[in_bin].mean()) if n else None
        accuracy = float(correct[in_bin].mean()) if n else None
        if n:
            ece += n / len(confidence) * abs(accuracy - mean_conf)  # type: ignore[operator]
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": n,
                "confidence": mean_conf,
                "accuracy": accuracy,
            }
        )
    return {"bins": rows, "ece": float(ece)}


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def apply_temperature(confidence: np.ndarray, temperature: float) -> np.ndarray:
    return 1 / (1 + np.exp(-logit(confidence) / temperature))


def fit_temperature(confidence: np.ndarray, correct: np.ndarray) -> float:
    """T minimising the binary NLL of sigmoid(logit(p) / T) against correctness; 1.0 without data
    or when every span is right (or wrong), where no finite T is optimal."""
    if len(confidence) == 0 or correct.all() or not correct.any():
        return 1.0
    z, y = logit(confidence), correct.astype(float)

    def nll(log_t: float) -> float:
        q = np.clip(1 / (1 + np.exp(-z / np.exp(log_t))), EPSILON, 1 - EPSILON)
        return float(-(y * np.log(q) + (1 - y) * np.log(1 - q)).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(np.log(0.05), np.log(20)), method="bounded").x))


def confidence_analysis(
    test: Sequence[dict[str, Any]],
    validation: Sequence[dict[str, Any]],
    thresholds: Sequence[float] = THRESHOLDS,
    how: str = "min",
    bins: int = 10,
) -> dict[str, Any]:
    """The `confidence` section of analysis.json for the test part, calibrated on validation."""
    spans, fit_on = scored_spans(test, how), scored_spans(validation, how)
    temperature = fit_temperature(fit_on.confidence, fit_on.correct)
    before = reliability(spans.confidence, spans.correct, bins)
    after = reliability(apply_temperature(spans.confidence, temperature), spans.correct, bins)
    return {
        "span_confidence": how,
        "mean": {
            "tp": mean_or_none(spans.confidence[spans.correct]),
            "fp": mean_or_none(spans.confidence[~spans.correct]),
            "fn": mean_or_none(spans.missed_confidence),
        },
        "counts": {
            "tp": int(spans.correct.sum()),
            "fp": int((~spans.correct).sum()),
            "fn": len(spans.missed_confidence),
        },
        "histograms": histograms(spans),
        "thresholds": threshold_rows(spans, thresholds),
        "reliability": before["bins"],
        "reliability_after": after["bins"],
        "ece_before": before["ece"],
        "ece_after": after["ece"],
        "temperature": temperature,
        "temperature_fitted_on": "validation",
    }
