"""`python -m pipeline compare RUN [RUN ...]`: runs side by side on the same documents (Task 1.3.3).

Every choice is made on the selection part (validation) and the test part is reported once, for
what was chosen and side by side for all: `best` and `pairwise_selection` come from validation
predictions, `models` and `pairwise` hold the test numbers. Writes
`<output_dir>/comparison/comparison.json` and `comparison/figures/f1_by_model.{png,svg}`. Scores are
recomputed from each run's predictions (so a run need not be analysed first). Schema:

    runs        [run name], in the order given
    part        "test"; selection_part "validation"; resamples, seed
    models      [{run, model, long_docs, split_strategy, documents,
                  micro {precision, recall, f1}, micro_f1_ci [lo, hi], macro {precision, recall, f1},
                  macro_f1_ci [lo, hi], tiers {tier: f1}, rare_f1, per_type, train_seconds, parameters,
                  docs_per_second (bench.json summary, null without a benchmark), bench {summary} | null,
                  selection {documents, micro, micro_f1_ci, macro, per_type}}]  (selection: validation)
    best        {chosen_on: "validation", overall: run with the highest validation micro-F1,
                 per_type [{type, run, selection_f1, f1 (test, of that run), support (test)}]}
    pairwise    [{a, b, mean_difference, ci [lo, hi], p_a_better, p_b_better, p_tie}]  test micro-F1 A - B
                 over the same resampled documents; a has the higher F1; P(tie) counts resamples where
                 the two are equal, which count for neither model
    pairwise_selection  the same on validation: what a "credibly better" choice reads
    unpaired    [{a, b, part, reason}]  pairs skipped because their documents differ
    figures     {name: path relative to the comparison folder}
    seed_summary  "seeds.json" when some compared runs share a recipe and differ only by seed, else null

`comparison/seeds.json` (written only then, see `seed_summary`):

    part, selection_part
    groups      [{model, recipe {training settings but the seed}, seeds [int],
                  runs [{run, seed, validation_f1, test_f1, test_f1_ci [lo, hi], test_macro_f1}],
                  validation_f1, test_f1, test_macro_f1: {mean, std (sample), min, max}}]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import AnalysisConfig
from pipeline.core.errors import ConfigError
from pipeline.core.layout import Outputs, RunFolder, read_optional_record, read_run_config, write_record
from pipeline.evaluation import figures, metrics
from pipeline.evaluation.analyze import load_part, run_types, tier_scores


def part_counts(run_dir: Path, run_config: dict[str, Any], part: str) -> metrics.Counts:
    """Per-document counts of one part's predictions, documents sorted by id (so runs pair up)."""
    records = load_part(run_dir, part, set(run_config["tag2id"]) if run_config.get("tag2id") else None)
    return metrics.document_counts(sorted(records, key=lambda r: str(r["id"])), run_types(run_config, records))


def part_scores(counts: metrics.Counts, config: AnalysisConfig) -> dict[str, Any]:
    """Micro/macro P/R/F1 with bootstrap intervals and per-type scores of one part."""
    scores = metrics.scores_from_counts(counts)
    intervals = metrics.bootstrap_intervals(counts, config.resamples, config.seed)
    return {
        "documents": len(counts.doc_ids),
        "micro": scores["micro"],
        "micro_f1_ci": intervals["micro_f1"],
        "macro": scores["macro"],
        "macro_f1_ci": intervals["macro_f1"],
        "per_type": scores["per_type"],
    }


def model_row(
    run_dir: Path, counts: metrics.Counts, selection: metrics.Counts, config: AnalysisConfig
) -> dict[str, Any]:
    run_config = read_run_config(run_dir)
    run_metrics = read_optional_record(RunFolder(run_dir).metrics, "metrics", run_dir.name) or {}
    bench = read_optional_record(RunFolder(run_dir).bench, "bench", run_dir.name)
    tiers = {
        tier: values["f1"]
        for tier, values in tier_scores(counts, run_config.get("types", {}), config.resamples, config.seed).items()
    }
    return {
        "run": run_dir.name,
        "model": run_config.get("model"),
        "long_docs": run_config.get("train", {}).get("long_docs", run_metrics.get("long_docs")),
        "split_strategy": run_config.get("split_strategy"),
        **part_scores(counts, config),
        "tiers": tiers,
        "rare_f1": tiers.get("rare"),
        "train_seconds": run_metrics.get("train_seconds"),
        "parameters": run_metrics.get("parameters", run_config.get("parameters")),
        "docs_per_second": ((bench or {}).get("summary") or {}).get("docs_per_second"),
        "bench": {"summary": bench.get("summary")} if bench else None,
        "selection": part_scores(selection, config),
    }


def best_per_type(models: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per type, the run with the highest validation F1, with that run's test F1 beside it."""
    types = sorted({t for m in models for t, s in m["selection"]["per_type"].items() if s["support"] > 0})
    rows = []
    for name in types:
        best = max(models, key=lambda m: m["selection"]["per_type"].get(name, {}).get("f1", 0.0))
        test = best["per_type"].get(name, {"f1": 0.0, "support": 0})
        rows.append(
            {
                "type": name,
                "run": best["run"],
                "selection_f1": best["selection"]["per_type"][name]["f1"],
                "f1": test["f1"],
                "support": test["support"],
            }
        )
    return rows


def pairwise(
    counts: dict[str, metrics.Counts], f1: dict[str, float], part: str, config: AnalysisConfig
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Paired bootstrap for every pair with the same documents of `part` (higher F1 first)."""
    pairs, unpaired = [], []
    for first, second in combinations(sorted(counts, key=lambda r: -f1[r]), 2):
        try:
            result = metrics.paired_bootstrap(counts[first], counts[second], config.resamples, config.seed)
        except ValueError as exc:
            unpaired.append({"a": first, "b": second, "part": part, "reason": str(exc)})
            continue
        pairs.append({"a": first, "b": second, **result})
    return pairs, unpaired


RUN_ONLY_SETTINGS = ("seed", "seeds", "output_dir", "wandb", "wandb_log_text", "threads")  # not the recipe


def recipe_of(run_config: dict[str, Any]) -> str | None:
    """What was trained, as a key: model, data split and every training setting but the seed and
    where or how the run was logged; None for a run without a seed (the CRF)."""
    settings = run_config.get("train") or {}
    if "seed" not in settings:
        return None
    recipe = {k: v for k, v in settings.items() if k not in RUN_ONLY_SETTINGS}
    return json.dumps({"split_hash": run_config.get("split_hash"), "train": recipe}, sort_keys=True)


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)),
        "min": float(min(values)),
        "max": float(max(values)),
    }


def seed_summary(models: Sequence[dict[str, Any]], run_configs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs of one recipe trained with at least two seeds: validation and test F1 per seed, their mean
    and spread. A seed trained twice counts once, with its run compared last."""
    groups: dict[str, dict[int, dict[str, Any]]] = {}
    for model in models:
        recipe = recipe_of(run_configs[model["run"]])
        if recipe is not None:
            groups.setdefault(recipe, {})[run_configs[model["run"]]["train"]["seed"]] = model
    summary = []
    for recipe, by_seed in groups.items():
        if len(by_seed) < 2:
            continue
        runs = [
            {
                "run": m["run"],
                "seed": seed,
                "validation_f1": m["selection"]["micro"]["f1"],
                "test_f1": m["micro"]["f1"],
                "test_f1_ci": m["micro_f1_ci"],
                "test_macro_f1": m["macro"]["f1"],
            }
            for seed, m in sorted(by_seed.items())
        ]
        summary.append(
            {
                "model": next(iter(by_seed.values()))["model"],
                "recipe": json.loads(recipe)["train"],
                "seeds": sorted(by_seed),
                "runs": runs,
                **{key: spread([r[key] for r in runs]) for key in ("validation_f1", "test_f1", "test_macro_f1")},
            }
        )
    return summary


def compare_runs(
    run_dirs: Sequence[str | Path], output_dir: str | Path = "outputs", config: AnalysisConfig | None = None
) -> Path:
    """Compare runs: choices on their validation predictions, scores on test; returns comparison.json."""
    config = config or AnalysisConfig()
    if not run_dirs:
        raise ConfigError("compare needs at least one run")
    counts, selection, models, run_configs = {}, {}, [], {}
    for run_dir in map(Path, run_dirs):
        run_config = run_configs[run_dir.name] = read_run_config(run_dir)
        counts[run_dir.name] = part_counts(run_dir, run_config, config.part)
        selection[run_dir.name] = part_counts(run_dir, run_config, config.calibration_part)
        models.append(model_row(run_dir, counts[run_dir.name], selection[run_dir.name], config))
    pairs, unpaired = pairwise(counts, {m["run"]: m["micro"]["f1"] for m in models}, config.part, config)
    selection_f1 = {m["run"]: m["selection"]["micro"]["f1"] for m in models}
    selection_pairs, selection_unpaired = pairwise(selection, selection_f1, config.calibration_part, config)
    comparison = {
        "runs": [m["run"] for m in models],
        "part": config.part,
        "selection_part": config.calibration_part,
        "resamples": config.resamples,
        "seed": config.seed,
        "models": models,
        "best": {
            "chosen_on": config.calibration_part,
            "overall": max(models, key=lambda m: m["selection"]["micro"]["f1"])["run"],
            "per_type": best_per_type(models),
        },
        "pairwise": pairs,
        "pairwise_selection": selection_pairs,
        "unpaired": unpaired + selection_unpaired,
    }
    out = Outputs(output_dir)
    groups = seed_summary(models, run_configs)
    if groups:
        seeds = {"part": config.part, "selection_part": config.calibration_part, "groups": groups}
        comparison["seed_summary"] = write_record(out.seeds, "seeds", seeds).name
    else:
        out.seeds.unlink(missing_ok=True)  # no stale summary of runs no longer compared
        comparison["seed_summary"] = None
    drawn = figures.comparison_figures(comparison, out.comparison_dir / "figures")
    comparison["figures"] = {name: str(path.relative_to(out.comparison_dir)) for name, path in drawn.items()}
    return write_record(out.comparison, "comparison", comparison)
