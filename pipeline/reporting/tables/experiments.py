"""Tables of the experiments across runs: the ablation (what each lever buys), the combined model against
each CRF, and one recipe trained with several seeds (ablation.json, seeds.json)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.reporting.tables.formatting import nan_if_none, not_measured, with_interval


def seed_table(seeds: dict[str, Any]) -> pd.DataFrame:
    """Per recipe trained with several seeds (comparison/seeds.json): each seed's validation and test
    F1, then their mean and range (is the reported run a lucky seed?)."""
    rows = []
    for group in seeds["groups"]:
        for run in group["runs"]:
            rows.append(
                {
                    "model": group["model"],
                    "seed": str(run["seed"]),
                    "validation micro-F1": f"{run['validation_f1']:.3f}",
                    "test micro-F1": with_interval(run["test_f1"], run.get("test_f1_ci")),
                    "test macro-F1": f"{run['test_macro_f1']:.3f}",
                }
            )
        rows.append(
            {
                "model": group["model"],
                "seed": f"mean (min-max) of {len(group['runs'])} seeds",
                **{
                    column: "{mean:.3f} ({min:.3f}-{max:.3f})".format(**group[key])
                    for column, key in (
                        ("validation micro-F1", "validation_f1"),
                        ("test micro-F1", "test_f1"),
                        ("test macro-F1", "test_macro_f1"),
                    )
                },
            }
        )
    return pd.DataFrame(rows)


def ablation_table(ablation: dict[str, Any] | None) -> pd.DataFrame:
    """One row per lever, ordered by validation F1: what each decoding, tuning and combination buys."""
    if not ablation or not ablation.get("rows"):
        return not_measured("ablation", "python -m pipeline compare <transformer run> <crf runs> <combined run>")
    return pd.DataFrame(
        [
            {
                "lever": row["lever"],
                "run": row["run"] if row["source"] == "run" else f"{row['run']} (lever)",
                "validation micro-F1 (chooses)": row["validation_f1"],
                "test micro-F1 [95% CI]": with_interval(row["f1"], row["f1_ci"]),
                "test macro-F1 [95% CI]": with_interval(row["macro_f1"], row["macro_f1_ci"]),
                "test rare-tier F1": nan_if_none(row["rare_f1"]),
                "training time (min)": nan_if_none(row["train_seconds"]) / 60,
            }
            for row in ablation["rows"]
        ]
    )


def combined_versus_crf_table(ablation: dict[str, Any] | None) -> pd.DataFrame:
    """The paired bootstrap of each combined run against each CRF on the test documents."""
    rows = [
        {
            "combined": pair["combined"],
            "CRF": pair["crf"],
            f"{pair['part']} F1 difference [95% CI]": with_interval(pair["mean_difference"], pair["ci"]),
            "P(combined better)": pair["p_combined_better"],
            "P(CRF better)": pair["p_crf_better"],
        }
        for pair in (ablation or {}).get("versus") or []
    ]
    if not rows:
        return not_measured("combined against CRF", "python -m pipeline compare <crf run> <combined run>")
    return pd.DataFrame(rows)
