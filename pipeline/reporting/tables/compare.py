"""Tables of the comparison page (and the summary): the requirements-first selection, the comparison and
decision matrices, the paired bootstraps, the F1 per tier and the best model per type (comparison.json
and each run's metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.reporting.facts import test_micro
from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.narrative import ModelFacts
from pipeline.reporting.tables.formatting import analysis_section, nan_if_none, not_measured, number, with_interval


def comparison_matrix(
    runs: Sequence[RunInputs], chosen_on: Sequence[ModelFacts], reported: Sequence[ModelFacts]
) -> pd.DataFrame:
    """Model | validation F1 [CI] (what the choice reads) | test F1 [CI], P, R, macro-F1, rare-tier F1
    (reported) | training time | speed."""
    rows = []
    for run, selection, test in zip(runs, chosen_on, reported):
        micro = test_micro(run)
        rows.append(
            {
                "model": run.label,
                "run": run.name,
                "validation micro-F1 [95% CI] (chooses)": with_interval(selection.f1, bounds_of(selection)),
                "test micro-F1 [95% CI] (reported)": with_interval(micro["f1"], bounds_of(test)),
                "test precision": micro["precision"],
                "test recall": micro["recall"],
                "test macro-F1": run.metrics["test"]["macro"]["f1"],
                "test rare-tier F1": nan_if_none(test.rare_f1),
                "training time (min)": run.metrics.get("train_seconds", float("nan")) / 60,
                "docs/s (fastest variant keeping F1)": nan_if_none(test.docs_per_second),
            }
        )
    return pd.DataFrame(rows)


REQUIREMENT_HEADERS = {
    "throughput": lambda limit: f"throughput, docs/s (at least {number(limit)})",
    "memory": lambda limit: f"peak memory, MB (at most {limit:,.0f})",
    "precision": lambda limit: f"validation precision (at least {limit:.2f})",
}


def requirement_cell(check: dict[str, Any]) -> str:
    """'9.0 (meets)', '5120.0 (fails)', or why there is no value ('not benchmarked')."""
    if check["value"] is None:
        return check["note"]
    return f"{number(check['value'])} ({'meets' if check['met'] else 'fails'})"


def selection_table(chosen: dict[str, Any], runs: Sequence[RunInputs]) -> pd.DataFrame:
    """comparison.json's selection: per candidate its validation micro-F1, each requirement with its value and
    whether it is met, the variant bench chose, the credibility of the most accurate's lead, and the choice."""
    labels = {run.name: run.label for run in runs}
    versus = {row["run"]: row for row in chosen["versus"]}
    rows = []
    for row in chosen["candidates"]:
        checks = {check["requirement"]: check for check in row["checks"]}
        lead = versus.get(row["run"])
        if row["run"] == chosen["most_accurate"]:
            credibility = "most accurate"
        elif lead is None:
            credibility = "–"
        elif lead["p_better"] is None:
            credibility = "not paired"
        else:
            credibility = f"{lead['p_better']:.2f} ({'credible' if lead['credible'] else 'not credible'})"
        rows.append(
            {
                "model": labels.get(row["run"], row["run"]),
                "validation micro-F1 [95% CI]": with_interval(row["validation_f1"], row["validation_f1_ci"]),
                **{
                    REQUIREMENT_HEADERS[r["name"]](r["limit"]): requirement_cell(checks[r["name"]])
                    for r in chosen["requirements"]
                },
                "variant (bench's choice)": f"{row['variant']}, batch {row['batch_size']}"
                if row["benchmarked"]
                else "–",
                "meets every requirement": "yes" if row["eligible"] else "no",
                "P(most accurate better), validation": credibility,
                "chosen": "yes" if row["run"] == chosen["chosen"] else "",
            }
        )
    for row in chosen["excluded"]:
        rows.append(
            {
                "model": labels.get(row["run"], row["run"]),
                "meets every requirement": f"not a candidate ({row['reason']})",
            }
        )
    return pd.DataFrame(rows)


def decision_matrix_table(matrix: dict[str, Any], runs: Sequence[RunInputs]) -> pd.DataFrame:
    """comparison.json's decision matrix: per run the raw value and the normalised score of each criterion,
    the weighted total, and the columns that inform without weighing (training time, size, parameters)."""
    labels = {run.name: run.label for run in runs}
    weights = matrix["weights"]
    rows = []
    for row in matrix["rows"]:
        values, scores, speed = row["values"], row["scores"] or {}, row["speed_variant"] or {}
        variant = f"{speed['variant']}, batch {speed['batch_size']}" if speed else "not benchmarked"
        rows.append(
            {
                "model": labels.get(row["run"], row["run"]),
                "validation F1": nan_if_none(values["f1"]),
                f"F1 score (×{weights['f1']:g})": nan_if_none(scores.get("f1")),
                "docs/s (variant keeping F1)": nan_if_none(values["speed"]),
                "variant": variant,
                f"speed score (×{weights['speed']:g})": nan_if_none(scores.get("speed")),
                "validation rare-tier F1": nan_if_none(values["rare"]),
                f"rare score (×{weights['rare']:g})": nan_if_none(scores.get("rare")),
                "inference memory (MB)": nan_if_none(values["memory"]),
                f"memory score (×{weights['memory']:g})": nan_if_none(scores.get("memory")),
                "weighted total": f"{row['total']:.3f}" if row["candidate"] else "not a candidate (row split)",
                "training time (min)": nan_if_none(row["train_seconds"] and row["train_seconds"] / 60),
                "model size (MB)": nan_if_none(row["model_size_mb"]),
                "parameters": "–" if row["parameters"] is None else f"{row['parameters']:,}",
            }
        )
    return pd.DataFrame(rows)


def bounds_of(facts: ModelFacts) -> tuple[float, float] | None:
    return (facts.f1_low, facts.f1_high) if facts.f1_low is not None and facts.f1_high is not None else None


def best_model_per_type(comparison: dict[str, Any] | None, runs: Sequence[RunInputs]) -> pd.DataFrame:
    """For each entity type, the run with the highest validation F1 (comparison.json best.per_type), with
    that run's test F1 beside it."""
    rows = ((comparison or {}).get("best") or {}).get("per_type")
    if not rows:
        return not_measured("best model per type", "python -m pipeline compare " + " ".join(r.name for r in runs))
    labels = {run.name: run.label for run in runs}
    tiers = {name: info.get("tier") for run in runs for name, info in run.config.get("types", {}).items()}
    return pd.DataFrame(
        [
            {
                "type": row["type"],
                "tier": tiers.get(row["type"]),
                "test support": row["support"],
                "model (chosen on validation)": labels.get(row["run"], row["run"]),
                "validation F1": row["selection_f1"],
                "test F1": row["f1"],
            }
            for row in rows
        ]
    ).sort_values("test F1", ascending=False)


def tier_f1_table(runs: Sequence[RunInputs]) -> pd.DataFrame:
    rows = [
        {
            "model": run.label,
            **{tier: values.get("f1") for tier, values in (analysis_section(run, "tiers") or {}).items()},
        }
        for run in runs
    ]
    return pd.DataFrame(rows)


def pairwise_table(comparison: dict[str, Any] | None, runs: Sequence[RunInputs]) -> pd.DataFrame:
    """Paired bootstrap of every pair on validation (what choices read) and on test (reported)."""
    labels = {run.name: run.label for run in runs}
    rows = [
        {
            "set": part,
            "A": labels.get(pair["a"], pair["a"]),
            "B": labels.get(pair["b"], pair["b"]),
            "F1 difference A-B [95% CI]": with_interval(pair["mean_difference"], pair.get("ci")),
            "P(A>B)": pair["p_a_better"],
            "P(B>A)": pair["p_b_better"],
            "P(tie)": pair["p_tie"],
        }
        for part, key in (("validation", "pairwise_selection"), ("test", "pairwise"))
        for pair in (comparison or {}).get(key) or []
    ]
    if not rows:
        return not_measured("paired bootstrap", "python -m pipeline compare " + " ".join(labels))
    return pd.DataFrame(rows)
