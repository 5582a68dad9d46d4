"""Production readiness (Task 1.8): what auto-coding at a confidence threshold would deliver.

Per entity: a predicted span at or above the threshold is coded automatically, the rest go to human
review. Per document: a document is coded automatically when every predicted span in it is at or above
the threshold. The recommended threshold follows a stated rule applied on validation (default: the
lowest threshold whose validation precision is at least 0.90; when none reaches it, the threshold with
the highest validation precision) and is then reported on test: never a typed-in number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.config import HIGH_VALUE_TYPES, THRESHOLDS
from pipeline.core.errors import ConfigError
from pipeline.evaluation.confidence import ScoredSpans
from pipeline.evaluation.metrics import prf


def choose_high_value_types(
    given: Sequence[str], types: Sequence[str], train_mentions: dict[str, int], count: int = 3
) -> tuple[list[str], str]:
    """The high-value types and a sentence saying how they were chosen: the types given (each must be
    one of the corpus's), else the production defaults when the corpus has them all, else the corpus's
    `count` most frequent types in training (never types the corpus does not have, scored as 0)."""
    if given:
        unknown = [name for name in given if name not in types]
        if unknown:
            raise ConfigError(
                f"--high-value-types {', '.join(unknown)}: not an entity type of this corpus; its types are "
                f"{', '.join(sorted(types))}"
            )
        return list(given), f"High-value types given with --high-value-types: {', '.join(given)}."
    if all(name in types for name in HIGH_VALUE_TYPES):
        return list(HIGH_VALUE_TYPES), f"High-value types (coded first in production): {', '.join(HIGH_VALUE_TYPES)}."
    ranked = sorted(types, key=lambda name: (-train_mentions.get(name, 0), name))[:count]
    which = "type" if len(ranked) == 1 else f"{len(ranked)} types"
    return ranked, (
        f"High-value types: the most frequent {which} in training ({', '.join(ranked)}), as no "
        "--high-value-types were given."
    )


def automation_rows(spans: ScoredSpans, thresholds: Sequence[float] = THRESHOLDS) -> list[dict[str, Any]]:
    """Per threshold: entity automation (share of predicted spans auto-coded), precision of auto-coded
    entities, documents auto-coded entirely, and the precision of the entities in those documents."""
    doc_ids = np.asarray(spans.doc_ids)
    documents = sorted(set(spans.doc_ids))
    rows = []
    for threshold in thresholds:
        kept = spans.confidence >= threshold
        total = len(kept)
        auto_docs = [d for d in documents if kept[doc_ids == d].all()]
        in_auto_docs = np.isin(doc_ids, auto_docs)
        tp, n = int((kept & spans.correct).sum()), int(kept.sum())
        doc_tp, doc_n = int((in_auto_docs & spans.correct).sum()), int(in_auto_docs.sum())
        automation = n / total if total else 0.0
        rows.append(
            {
                "threshold": float(threshold),
                "auto_coded": n,
                "reviewed": total - n,
                "precision": prf(tp, n - tp, 0)["precision"],
                "coverage": automation,
                "automation_rate": automation,
                "review_rate": 1 - automation if total else 0.0,
                "documents_auto_coded": len(auto_docs),
                "document_automation_rate": len(auto_docs) / len(documents) if documents else 0.0,
                "document_precision": prf(doc_tp, doc_n - doc_tp, 0)["precision"],
            }
        )
    return rows


def recommend_threshold(
    validation_rows: Sequence[dict[str, Any]], test_rows: Sequence[dict[str, Any]], target_precision: float = 0.90
) -> dict[str, Any]:
    """The lowest threshold whose validation precision >= target; else the most precise one."""
    meeting = [row for row in validation_rows if row["precision"] >= target_precision and row["auto_coded"] > 0]
    if meeting:
        chosen = min(meeting, key=lambda row: row["threshold"])
        rule = f"lowest threshold with validation precision >= {target_precision:.2f}"
    else:
        chosen = max(validation_rows, key=lambda row: (row["precision"], -row["threshold"]))
        rule = (
            f"no threshold reaches validation precision {target_precision:.2f}; "
            "the threshold with the highest validation precision"
        )
    test = next(row for row in test_rows if row["threshold"] == chosen["threshold"])
    return {
        "threshold": chosen["threshold"],
        "rule": rule,
        "target_precision": target_precision,
        "met": bool(meeting),
        "validation": dict(chosen),
        "test": dict(test),
    }


def high_value_scores(
    spans: ScoredSpans, per_type: dict[str, dict[str, Any]], types: Sequence[str], threshold: float = 0.85
) -> dict[str, Any]:
    """F1 of each high-value type, and precision/coverage of its spans at `threshold`."""
    result = {}
    span_types = np.asarray(spans.types)
    for name in types:
        of_type = span_types == name
        kept = of_type & (spans.confidence >= threshold)
        tp = int((kept & spans.correct).sum())
        scores = per_type.get(name, {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0})
        result[name] = {
            "f1": scores["f1"],
            "precision": scores["precision"],
            "recall": scores["recall"],
            "support": scores["support"],
            "threshold": threshold,
            "precision_at_threshold": prf(tp, int(kept.sum()) - tp, 0)["precision"],
            "coverage_at_threshold": float(kept.sum() / of_type.sum()) if of_type.any() else 0.0,
        }
    return result


def false_positive_rates(spans: ScoredSpans, high_value: Sequence[str] = HIGH_VALUE_TYPES) -> list[dict[str, Any]]:
    """False-positive rate (FP / predicted) per predicted type, ranked by risk: the number of wrong
    codes an auto-coder would emit (FP count), then the rate."""
    rows = []
    span_types = np.asarray(spans.types)
    for name in sorted(set(spans.types)):
        of_type = span_types == name
        fp = int((of_type & ~spans.correct).sum())
        rows.append(
            {
                "type": name,
                "predicted": int(of_type.sum()),
                "false_positives": fp,
                "fp_rate": fp / int(of_type.sum()),
                "high_value": name in high_value,
            }
        )
    return sorted(rows, key=lambda r: (-r["false_positives"], -r["fp_rate"], r["type"]))


def readiness_analysis(
    test: ScoredSpans,
    validation: ScoredSpans,
    per_type: dict[str, dict[str, Any]],
    thresholds: Sequence[float] = THRESHOLDS,
    target_precision: float = 0.90,
    high_value: Sequence[str] = HIGH_VALUE_TYPES,
    high_value_threshold: float = 0.85,
    high_value_chosen: str = "",
) -> dict[str, Any]:
    """The `readiness` section of analysis.json: tables on test; the recommended threshold chosen on validation
    (the types always reviewed are the deployment policy's, `pipeline.evaluation.policy`)."""
    test_rows = automation_rows(test, thresholds)
    return {
        "thresholds": test_rows,
        "recommended": recommend_threshold(automation_rows(validation, thresholds), test_rows, target_precision),
        "high_value": high_value_scores(test, per_type, high_value, high_value_threshold),
        "high_value_chosen": high_value_chosen,
        "fp_rate_by_type": false_positive_rates(test, high_value),
    }
