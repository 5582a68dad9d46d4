"""Tables of confidence and production: thresholds, calibration, readiness, false-positive rates, the
deployment policy on validation beside test, and the high-value types (analysis.json, policy.json)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.reporting import facts
from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.tables.formatting import analysis_section, not_measured, records_table


def threshold_table(run: RunInputs) -> pd.DataFrame:
    return records_table((analysis_section(run, "confidence") or {}).get("thresholds"), "threshold table", run)


def calibration_table(run: RunInputs) -> pd.DataFrame:
    confidence = analysis_section(run, "confidence") or {}
    if not confidence:
        return not_measured("calibration", f"python -m pipeline analyze --run {run.name}")
    means = confidence.get("mean") or {}
    facts = [
        ("mean confidence of true positives", means.get("tp")),
        ("mean confidence of false positives", means.get("fp")),
        ("mean confidence of missed entities (FN)", means.get("fn")),
        ("expected calibration error (ECE), raw", confidence.get("ece_before")),
        ("fitted temperature", confidence.get("temperature")),
        ("ECE after temperature scaling", confidence.get("ece_after")),
    ]
    return pd.DataFrame([{"measure": name, "value": value} for name, value in facts if value is not None])


def readiness_table(run: RunInputs) -> pd.DataFrame:
    return records_table((analysis_section(run, "readiness") or {}).get("thresholds"), "production simulation", run)


def high_risk_table(run: RunInputs) -> pd.DataFrame:
    """False-positive rate by predicted type on test; the types the deployment policy always reviews (chosen on
    validation) marked."""
    readiness = analysis_section(run, "readiness") or {}
    table = records_table(readiness.get("fp_rate_by_type"), "false-positive rates", run)
    if "type" in table:
        table["always reviewed (policy, validation)"] = table["type"].isin(facts.high_risk_types(run))
    return table


LOAD_MEASURES = (
    ("predicted spans", "predicted"),
    ("auto-coded spans", "auto_coded"),
    ("automation rate", "automation_rate"),
    ("precision of auto-coded spans", "precision"),
    ("wrong auto-coded spans", "auto_errors"),
    ("spans to review", "review_spans"),
    ("coder hours", "coder_hours"),
)


def load_value(load: dict[str, Any], key: str) -> str:
    """A measure of a policy's load as the page prints it: rates with three decimals, counts in full."""
    value = load.get(key)
    if value is None:
        return "–"
    if key in ("automation_rate", "precision"):
        return f"{value:.3f}"
    return f"{value:,.0f}" if key != "coder_hours" else f"{value:,.1f}"


def policy_overview_table(run: RunInputs) -> pd.DataFrame:
    """The deployment policy on validation (the estimate it was chosen with) beside its result on test."""
    test = analysis_section(run, "policy")
    if run.policy is None or not test:
        return not_measured("deployment policy", f"python -m pipeline analyze --run {run.name}")
    settings, validation = run.policy["settings"], run.policy["validation"]
    scale = f" ({settings['notes']:,} notes, {settings['seconds_per_span']:g} s a span)"
    return pd.DataFrame(
        [
            {
                "measure": name + (scale if key in ("review_spans", "coder_hours") else ""),
                "validation (estimate)": load_value(validation, key),
                "test (result)": load_value(test, key),
            }
            for name, key in LOAD_MEASURES
        ]
    )


def policy_types_table(run: RunInputs) -> pd.DataFrame:
    """Per entity type: the policy's decision and why (validation), its validation estimate and its test result."""
    test = (analysis_section(run, "policy") or {}).get("per_type") or {}
    if run.policy is None:
        return not_measured("deployment policy", f"python -m pipeline analyze --run {run.name}")
    rows = []
    for name, entry in run.policy["types"].items():
        on_test = test.get(name, {})
        threshold = entry["threshold"]
        rows.append(
            {
                "type": name,
                "decision": "always review"
                if threshold is None
                else f"auto at {threshold:g}" + (" (pooled)" if entry["source"] == "pooled" else ""),
                "validation predicted": entry["validation"]["predicted"],
                "validation automation": load_value(entry["validation"], "automation_rate"),
                "validation precision": load_value(entry["validation"], "precision"),
                "test predicted": on_test.get("predicted"),
                "test automation": load_value(on_test, "automation_rate"),
                "test precision": load_value(on_test, "precision"),
                "test spans to review": load_value(on_test, "review_spans"),
                "test coder hours": load_value(on_test, "coder_hours"),
                "reason (validation)": entry["reason"],
            }
        )
    return pd.DataFrame(rows)


def high_value_table(run: RunInputs) -> pd.DataFrame:
    """F1 and precision of the configured high-value types, and their precision and coverage at the
    high-value threshold (Task 1.8.2)."""
    high_value = (analysis_section(run, "readiness") or {}).get("high_value")
    if not high_value:
        return not_measured("high-value types", f"python -m pipeline analyze --run {run.name}")
    return pd.DataFrame(
        [
            {
                "type": name,
                "support": row["support"],
                "F1": row["f1"],
                "precision": row["precision"],
                "recall": row["recall"],
                "threshold": row["threshold"],
                "precision at threshold": row["precision_at_threshold"],
                "coverage at threshold": row["coverage_at_threshold"],
            }
            for name, row in high_value.items()
        ]
    )
