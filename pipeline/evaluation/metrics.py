"""Entity-level scores (Task 1.1.4): strict IOB2 P/R/F1, per-document counts, bootstrap intervals.

Two paths give the same numbers on valid IOB2 (every prediction file holds repaired tags):
- `pipeline.core.scoring.strict_scores` calls seqeval (strict mode, IOB2) and is what training reports;
- `document_counts` counts TP/FP/FN per document and type from `tags.spans_from_tags`, so that the
  bootstrap can resample documents with numpy instead of rescoring 1,000 times.
On an `I-X` after `O`, seqeval's strict mode drops the entity while `spans_from_tags` reads it as a new
entity (the project's decoding rule); the counts equal seqeval on `tags.repair_iob2`-ed sequences.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pipeline.core.documents import DataError
from pipeline.core.errors import PipelineError
from pipeline.core.tags import Span, TagSchemeError, parse_tag, spans_from_tags


def validate_predictions(
    records: Sequence[dict[str, Any]], tag_set: set[str] | None = None, source: str = "predictions"
) -> None:
    """Raise DataError naming the document when words/gold/pred/confidence lengths differ or a tag is
    outside the run's tag set; an empty part is an error too (nothing to score)."""
    if not records:
        raise DataError(source, "no documents to score (empty part)")
    for record in records:
        doc = record.get("id", "?")
        lengths = {key: len(record.get(key, [])) for key in ("words", "gold", "pred", "confidence")}
        if len(set(lengths.values())) != 1:
            raise DataError(source, f"document {doc}: words/gold/pred/confidence lengths differ {lengths}", str(doc))
        for key in ("gold", "pred"):
            for tag in record[key]:
                try:
                    parse_tag(tag)
                except TagSchemeError as exc:
                    raise DataError(source, f"document {doc}: {key} {exc}", str(doc)) from exc
                if tag_set is not None and tag not in tag_set:
                    raise DataError(source, f"document {doc}: {key} tag {tag!r} is not in the run's tag set", str(doc))


def record_spans(record: dict[str, Any]) -> tuple[list[Span], list[Span]]:
    """(gold spans, predicted spans) of one prediction record."""
    return spans_from_tags(record["gold"]), spans_from_tags(record["pred"])


@dataclass(frozen=True)
class Counts:
    """TP/FP/FN per document and type: arrays of shape (documents, types)."""

    doc_ids: list[str]
    types: list[str]
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    def restrict(self, types: Sequence[str]) -> Counts:
        """The columns of `types` only: tier scores use the spans of that tier's types."""
        index = [self.types.index(t) for t in types if t in self.types]
        return Counts(
            self.doc_ids, [self.types[i] for i in index], self.tp[:, index], self.fp[:, index], self.fn[:, index]
        )


def document_counts(records: Sequence[dict[str, Any]], types: Sequence[str] | None = None) -> Counts:
    """Exact (strict) span matches per document and type; `types` fixes the columns (default: all seen)."""
    spans = [record_spans(record) for record in records]
    if types is None:
        types = sorted({s.type for gold, pred in spans for s in (*gold, *pred)})
    column = {t: i for i, t in enumerate(types)}
    shape = (len(records), len(types))
    tp, fp, fn = np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64), np.zeros(shape, dtype=np.int64)
    for row, (gold, pred) in enumerate(spans):
        gold_set, pred_set = set(gold), set(pred)
        for span in pred_set:
            if span.type in column:
                (tp if span in gold_set else fp)[row, column[span.type]] += 1
        for span in gold_set - pred_set:
            if span.type in column:
                fn[row, column[span.type]] += 1
    return Counts([str(r.get("id")) for r in records], list(types), tp, fp, fn)


def prf_arrays(tp: npt.ArrayLike, fp: npt.ArrayLike, fn: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 elementwise; 0 where undefined (no predictions or no gold), like seqeval."""
    tp, fp, fn = (np.asarray(a, dtype=float) for a in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def prf(tp: float, fp: float, fn: float) -> dict[str, float]:
    precision, recall, f1 = prf_arrays(tp, fp, fn)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def macro_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Mean F1 over the types present (in gold or predictions) along the last axis, as seqeval does."""
    _, _, f1 = prf_arrays(tp, fp, fn)
    present = (tp + fp + fn) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(present.sum(-1) > 0, (f1 * present).sum(-1) / present.sum(-1), 0.0)


def scores_from_counts(counts: Counts) -> dict[str, Any]:
    """{micro, macro, weighted, per_type}: the seqeval report computed from summed counts."""
    tp, fp, fn = counts.tp.sum(0), counts.fp.sum(0), counts.fn.sum(0)
    precision, recall, f1 = prf_arrays(tp, fp, fn)
    support = tp + fn
    present = (tp + fp + fn) > 0
    per_type = {
        t: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
            "predicted": int(tp[i] + fp[i]),
        }
        for i, t in enumerate(counts.types)
        if present[i]
    }
    n_present = max(int(present.sum()), 1)
    macro = {
        name: float((values * present).sum() / n_present)
        for name, values in (("precision", precision), ("recall", recall), ("f1", f1))
    }
    total = max(int(support.sum()), 1)
    weighted = {
        name: float((values * support).sum() / total)
        for name, values in (("precision", precision), ("recall", recall), ("f1", f1))
    }
    return {"micro": prf(tp.sum(), fp.sum(), fn.sum()), "macro": macro, "weighted": weighted, "per_type": per_type}


def resample_indices(documents: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, documents) indices drawn with replacement: one bootstrap sample per row."""
    return np.random.default_rng(seed).integers(0, documents, size=(resamples, documents))


def interval(values: np.ndarray, level: float = 0.95) -> list[float]:
    tail = (1 - level) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def wilson(successes: int, trials: int, z: float = 1.96) -> list[float]:
    """Wilson score interval of a proportion (95% by default): sound at small counts and rates near 0 or 1,
    where the normal approximation leaves [0, 1]. [0, 1] without trials."""
    if trials == 0:
        return [0.0, 1.0]
    rate = successes / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends: rounding must not cross the rate
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return [low, high]


def resampled_sums(counts: Counts, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP/FP/FN per resample and type, shape (resamples, types)."""
    return counts.tp[indices].sum(1), counts.fp[indices].sum(1), counts.fn[indices].sum(1)


def micro_f1_of(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    return prf_arrays(tp.sum(-1), fp.sum(-1), fn.sum(-1))[2]


def bootstrap_intervals(counts: Counts, resamples: int = 1000, seed: int = 42, level: float = 0.95) -> dict[str, Any]:
    """95% percentile intervals over documents for micro-F1, macro-F1 and each type's F1."""
    if not counts.doc_ids:
        raise ValueError("bootstrap over zero documents")
    tp, fp, fn = resampled_sums(counts, resample_indices(len(counts.doc_ids), resamples, seed))
    per_type_f1 = prf_arrays(tp, fp, fn)[2]
    present = (counts.tp + counts.fp + counts.fn).sum(0) > 0
    return {
        "micro_f1": interval(micro_f1_of(tp, fp, fn), level),
        "macro_f1": interval(macro_f1(tp, fp, fn), level),
        "per_type_f1": {t: interval(per_type_f1[:, i], level) for i, t in enumerate(counts.types) if present[i]},
        "resamples": resamples,
        "seed": seed,
        "level": level,
    }


class UnpairedRunsError(PipelineError, ValueError):
    """Two runs scored on different documents (or in another order): no paired comparison."""


def paired_bootstrap(
    a: Counts, b: Counts, resamples: int = 1000, seed: int = 42, level: float = 0.95
) -> dict[str, Any]:
    """Micro-F1 of A minus B on the same resampled documents: mean difference, interval, and the shares
    of resamples where A is better, B is better, and the two are equal (a tie counts for neither)."""
    if a.doc_ids != b.doc_ids:
        only_a, only_b = sorted(set(a.doc_ids) - set(b.doc_ids)), sorted(set(b.doc_ids) - set(a.doc_ids))
        raise UnpairedRunsError(
            f"paired bootstrap needs the same documents in the same order; only in A: {only_a[:10]}, "
            f"only in B: {only_b[:10]}" + ("" if only_a or only_b else " (same ids, different order)")
        )
    indices = resample_indices(len(a.doc_ids), resamples, seed)
    difference = micro_f1_of(*resampled_sums(a, indices)) - micro_f1_of(*resampled_sums(b, indices))
    return {
        "mean_difference": float(difference.mean()),
        "ci": interval(difference, level),
        "p_a_better": float((difference > 0).mean()),
        "p_b_better": float((difference < 0).mean()),
        "p_tie": float((difference == 0).mean()),
        "resamples": resamples,
        "seed": seed,
    }
