"""Tables of a model's page: its test scores (micro, macro, per type, per tier) and what it chose on
validation (metrics.json, analysis.json)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.tables.formatting import analysis_section, not_measured, with_interval


def per_type_table(run: RunInputs) -> pd.DataFrame:
    types = run.config.get("types", {})
    rows = [
        {
            "type": name,
            "tier": types.get(name, {}).get("tier", "?"),
            "train mentions": types.get(name, {}).get("train_mentions"),
            "support": scores["support"],
            "precision": scores["precision"],
            "recall": scores["recall"],
            "F1": scores["f1"],
        }
        for name, scores in run.metrics["test"]["per_type"].items()
    ]
    return pd.DataFrame(rows).sort_values("F1", ascending=False)


def metrics_table(run: RunInputs) -> pd.DataFrame:
    """Micro and macro precision/recall/F1 on test, with the bootstrap interval of F1 when analysed."""
    intervals = (analysis_section(run, "scores") or {}).get("intervals", {}) or {}
    reported: dict[str, Any] = dict(run.metrics["test"])  # metrics.json has no weighted average
    rows = []
    for average in ("micro", "macro", "weighted"):
        scores = (analysis_section(run, "scores") or {}).get(average) or reported.get(average)
        if scores:
            rows.append(
                {
                    "average": average,
                    "precision": scores["precision"],
                    "recall": scores["recall"],
                    "F1 [95% CI]": with_interval(scores["f1"], intervals.get(f"{average}_f1")),
                }
            )
    return pd.DataFrame(rows)


def tier_scores_table(run: RunInputs) -> pd.DataFrame:
    tiers = analysis_section(run, "tiers")
    if not tiers:
        return not_measured("tier scores", f"python -m pipeline analyze --run {run.name}")
    return pd.DataFrame(
        [
            {
                "tier": tier,
                "types": len(values.get("types", [])),
                "support": values.get("support"),
                "precision": values.get("precision"),
                "recall": values.get("recall"),
                "F1 [95% CI]": with_interval(values.get("f1"), values.get("ci")),
            }
            for tier, values in tiers.items()
        ]
    )


def validation_search_table(run: RunInputs) -> pd.DataFrame:
    """What the run chose on validation: learning rates, the CRF's c1/c2 grid or the combination weight
    (and prior correction)."""
    found = run.metrics
    if found.get("grid"):
        rows = [
            {
                "c1": point["c1"],
                "c2": point["c2"],
                "L-BFGS iterations": point["iterations"],
                "validation micro-F1": point["validation_f1"],
                "fit (s)": point["fit_seconds"],
                "kept": (point["c1"], point["c2"]) == (found["selected"]["c1"], found["selected"]["c2"]),
            }
            for point in found["grid"]
        ]
    elif found.get("weight_search"):
        chosen = (found["selected_weight"], found.get("selected_tau"))
        rows = [
            {
                "transformer weight": point["weight"],
                "CRF weight": round(1 - point["weight"], 6),
                **({"prior tau": point["tau"]} if "tau" in point else {}),  # runs since the prior correction
                "validation micro-F1": point["validation_f1"],
                **({"validation macro-F1": point["validation_macro_f1"]} if "tau" in point else {}),
                "kept": (point["weight"], point.get("tau")) == chosen,
            }
            for point in found["weight_search"]
        ]
    else:
        rows = [
            {
                "learning rate": trial["lr"],
                "validation micro-F1": trial["best_val_f1"],
                "epochs run": trial["epochs_run"],
                "kept": trial["lr"] == found.get("selected_lr"),
            }
            for trial in found.get("lr_search") or []
        ]
    return pd.DataFrame(rows or [{"chosen on validation": "nothing: the run was trained with one setting"}])
