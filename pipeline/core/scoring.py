"""Strict IOB2 entity-level scores (seqeval): what training validates on and every run reports.

It lives in `core` because training (validation F1 per epoch), the CRF and the bench score with it,
and evaluation builds its intervals on the same definition (`pipeline.evaluation.metrics`).
"""

from __future__ import annotations

from collections.abc import Sequence

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, Entities


def strict_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    """seqeval strict IOB2 report as {micro, macro, per_type}; training and the CRF report these."""
    report = classification_report(
        list(map(list, gold)), list(map(list, pred)), mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )

    def prf(row: dict) -> dict:
        return {"precision": float(row["precision"]), "recall": float(row["recall"]), "f1": float(row["f1-score"])}

    per_type = {
        k: {**prf(v), "support": int(v["support"])}
        for k, v in report.items()
        if k not in ("micro avg", "macro avg", "weighted avg")
    }
    return {"micro": prf(report["micro avg"]), "macro": prf(report["macro avg"]), "per_type": per_type}


def strict_type_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, tuple[int, int, int]]:
    """seqeval's own strict IOB2 entities, counted per type: {type: (true positives, false positives, false
    negatives)} over all documents, for every type in gold or predictions."""
    true = {entity.to_tuple() for entities in Entities(list(map(list, gold)), IOB2).entities for entity in entities}
    found = {entity.to_tuple() for entities in Entities(list(map(list, pred)), IOB2).entities for entity in entities}
    counts: dict[str, list[int]] = {}
    for entities, slot in ((true & found, 0), (found - true, 1), (true - found, 2)):
        for entity in entities:
            counts.setdefault(entity[1], [0, 0, 0])[slot] += 1
    return {entity_type: (tp, fp, fn) for entity_type, (tp, fp, fn) in sorted(counts.items())}


def strict_counts(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) over all documents and types: what the error
    taxonomy must reconcile with."""
    per_type = strict_type_counts(gold, pred).values()
    return sum(c[0] for c in per_type), sum(c[1] for c in per_type), sum(c[2] for c in per_type)


def micro_f1(counts: Sequence[tuple[int, int, int]]) -> float:
    """Strict micro-F1 of summed (tp, fp, fn) counts; 0 when there is nothing to score (as seqeval)."""
    tp, fp, fn = (sum(c[i] for c in counts) for i in range(3))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
