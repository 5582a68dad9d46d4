"""The model to deploy (Task 1.9): the deployment requirements first, then the credibly most accurate.

A candidate is a run on the document split (a row-split run has copies of its test documents in training).
Each is checked against the requirements `CompareConfig` states: throughput and peak inference memory of
the variant `bench` chose (a model row's `speed`, read from bench.json by `compare.bench_speed`; a run
without a benchmark cannot show it meets them) and, when set, validation micro precision. Of the candidates
that meet every requirement the one with the highest validation micro-F1 leads; each other one it is not
credibly better than (paired bootstrap over validation documents: P(better) below `credible`, or no paired
test because their documents differ) ties with it, and of the tied the fastest (documents/s) is chosen: as
accurate as far as the evidence shows, and the cheapest to run. The test part never enters.

The decision matrix of `compare` stays beside the choice as a sensitivity view (`against_choice`): which
weightings of its criteria would choose another model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.config import CompareConfig

RULE = (
    "among the candidates that meet every requirement, the highest validation micro-F1 leads; the candidates "
    "it is not credibly better than (paired bootstrap over validation documents, P(better) below the credible "
    "level, or no paired test) tie with it, and of the tied the fastest (documents/s of the variant bench chose) "
    "is chosen"
)
BENCH_REQUIREMENTS = ("throughput", "memory")  # read from bench.json: a run without one cannot show them
ROW_SPLIT = "row split: copies of its test rows are in its training set"


def requirements(config: CompareConfig) -> list[dict[str, Any]]:
    """The requirements the config states, each with its limit and whether a value must stay at or below it
    (`at_most`) or reach it; a requirement set to 0 is left out."""
    stated = []
    if config.throughput_notes > 0:
        stated.append(
            {
                "name": "throughput",
                "limit": config.throughput_notes / (3600 * config.throughput_hours),
                "at_most": False,
                "unit": "docs/s",
                "notes": config.throughput_notes,
                "hours": config.throughput_hours,
            }
        )
    if config.max_memory_mb > 0:
        stated.append({"name": "memory", "limit": config.max_memory_mb, "at_most": True, "unit": "MB"})
    if config.min_precision > 0:
        stated.append({"name": "precision", "limit": config.min_precision, "at_most": False, "unit": ""})
    return stated


def requirement_value(model: dict[str, Any], name: str) -> float | None:
    """A model row's value for a requirement: docs/s and peak MB of the variant bench chose (None without a
    benchmark), validation micro precision."""
    speed = model.get("speed") or {}
    if name == "throughput":
        return speed.get("docs_per_second")
    if name == "memory":
        return speed.get("peak_memory_mb")
    return model["selection"]["micro"]["precision"]


def check(model: dict[str, Any], requirement: dict[str, Any]) -> dict[str, Any]:
    """Whether a model row meets one requirement, with its value and the limit; unmeasured fails, with why."""
    name, limit = requirement["name"], requirement["limit"]
    value = requirement_value(model, name)
    if value is None:
        note = "not benchmarked" if model.get("speed") is None else "not measured by bench"
        return {"requirement": name, "value": None, "limit": limit, "met": False, "note": note}
    met = value <= limit if requirement["at_most"] else value >= limit
    return {"requirement": name, "value": value, "limit": limit, "met": met, "note": None}


def candidate(model: dict[str, Any], stated: Sequence[dict[str, Any]]) -> dict[str, Any]:
    speed, scores = model.get("speed") or {}, model["selection"]
    checks = [check(model, requirement) for requirement in stated]
    return {
        "run": model["run"],
        "validation_f1": scores["micro"]["f1"],
        "validation_f1_ci": scores.get("micro_f1_ci"),
        "validation_precision": scores["micro"].get("precision"),
        "benchmarked": model.get("speed") is not None,
        "variant": speed.get("label"),
        "batch_size": speed.get("batch_size"),
        "docs_per_second": speed.get("docs_per_second"),
        "peak_memory_mb": speed.get("peak_memory_mb"),
        "checks": checks,
        "eligible": all(row["met"] for row in checks),
    }


def p_better(pairs: Sequence[dict[str, Any]], first: str, second: str) -> float | None:
    """P(first > second) from `compare.pairwise` rows (either order); None when the two were not paired."""
    for pair in pairs:
        if (pair["a"], pair["b"]) == (first, second):
            return float(pair["p_a_better"])
        if (pair["a"], pair["b"]) == (second, first):
            return float(pair["p_b_better"])
    return None


def faster(row: dict[str, Any]) -> tuple[bool, float, float]:
    """The cheaper-to-run order: benchmarked first, then docs/s, then (equal speed) validation F1."""
    return row["docs_per_second"] is not None, row["docs_per_second"] or 0.0, row["validation_f1"]


def select(
    models: Sequence[dict[str, Any]],
    pairs: Sequence[dict[str, Any]],
    stated: Sequence[dict[str, Any]],
    credible: float,
    part: str = "validation",
) -> dict[str, Any]:
    """The choice by `RULE` from compare's model rows and its paired bootstrap on `part` (validation), with
    every candidate's checks, the failed requirements and the credibility of the most accurate's lead."""
    rows = sorted(
        (candidate(m, stated) for m in models if m.get("split_strategy", "document") != "rows"),
        key=lambda row: -row["validation_f1"],
    )
    eligible = [row for row in rows if row["eligible"]]
    leader = eligible[0] if eligible else None
    versus = []
    for row in eligible[1:]:
        p = p_better(pairs, leader["run"], row["run"]) if leader else None
        versus.append({"run": row["run"], "p_better": p, "paired": p is not None, "credible": (p or 0.0) >= credible})
    tied = ([leader] if leader else []) + [row for row, v in zip(eligible[1:], versus) if not v["credible"]]
    chosen = max(tied, key=faster)["run"] if tied else None
    if chosen is None:
        basis = "none_eligible"
    elif len(eligible) == 1:
        basis = "only_eligible"
    elif len(tied) == 1:
        basis = "credibly_most_accurate"
    else:
        basis = "fastest_of_tied"
    return {
        "chosen_on": part,
        "rule": RULE,
        "requirements": list(stated),
        "credible": credible,
        "candidates": rows,
        "failed": [
            {"run": row["run"], **{k: c[k] for k in ("requirement", "value", "limit", "note")}}
            for row in rows
            for c in row["checks"]
            if not c["met"]
        ],
        "not_benchmarked": [row["run"] for row in rows if not row["benchmarked"]],
        "excluded": [
            {"run": m["run"], "reason": ROW_SPLIT} for m in models if m.get("split_strategy", "document") == "rows"
        ],
        "most_accurate": leader["run"] if leader else None,
        "versus": versus,
        "tied": [row["run"] for row in tied],
        "chosen": chosen,
        "basis": basis,
    }


def against_choice(matrix: dict[str, Any], selection: dict[str, Any]) -> dict[str, Any]:
    """The decision matrix as a sensitivity view of the choice: for its own weights and each alternative
    weighting, whether the weighted winner differs from the chosen model and whether it meets every requirement."""
    eligible = {row["run"] for row in selection["candidates"] if row["eligible"]}

    def marks(winner: str) -> dict[str, bool]:
        return {"differs": winner != selection["chosen"], "winner_meets_requirements": winner in eligible}

    return {
        **matrix,
        **marks(matrix["winner"]),
        "alternatives": [{**row, **marks(row["winner"])} for row in matrix["alternatives"]],
    }
