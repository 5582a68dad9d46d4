"""`python -m pipeline compare RUN [RUN ...]`: runs side by side on the same documents (Task 1.3.3).

Every choice is made on the selection part (validation) and the test part is reported once, for
what was chosen and side by side for all: `selection`, `best` and `pairwise_selection` come from validation
predictions (and bench.json), `models` and `pairwise` hold the test numbers. The model to deploy is chosen
by the deployment requirements, then the credibly most accurate (`pipeline.evaluation.selection`); the
weighted decision matrix is kept as a sensitivity view of that choice. Writes
`<output_dir>/comparison/comparison.json`, `comparison/ablation.json` (`pipeline.evaluation.ablation`)
and `comparison/figures/f1_by_model.{png,svg}`. Scores are
recomputed from each run's predictions (so a run need not be analysed first). Schema:

    runs        [run name], in the order given
    part        "test"; selection_part "validation"; resamples, seed
    models      [{run, model, long_docs, split_strategy, documents,
                  micro {precision, recall, f1}, micro_f1_ci [lo, hi], macro {precision, recall, f1},
                  macro_f1_ci [lo, hi], tiers {tier: f1}, rare_f1, per_type, train_seconds, parameters,
                  docs_per_second (bench.json summary, null without a benchmark), bench {summary} | null,
                  speed {variant, batch_size, device, docs_per_second, peak_memory_mb, f1_delta_vs_fp32} | null
                  (`bench_speed`), model_size_mb,
                  selection {documents, micro, micro_f1_ci, macro, per_type, tiers, rare_f1}}]  (selection: validation)
    selection   the choice (`selection.select`): {chosen_on: "validation", rule (text), credible (the P(better)
                 from which a lead counts), requirements [{name: throughput | memory | precision, limit,
                 at_most, unit ("docs/s", "MB", ""), and for throughput notes, hours (limit = notes / hours
                 in docs/s)}] (those set; 0 turns one off),
                 candidates [{run, validation_f1, validation_f1_ci, validation_precision, benchmarked,
                 variant, batch_size, docs_per_second, peak_memory_mb (the variant bench chose, null
                 without a benchmark), checks [{requirement, value, limit, met, note ("not benchmarked",
                 "not measured by bench" or null)}], eligible (meets every requirement)}] (validation F1, best
                 first), failed [{run, requirement, value, limit, note}] (every requirement not met),
                 not_benchmarked [run], excluded [{run, reason}] (row split), most_accurate (the eligible
                 run with the highest validation F1, or null), versus [{run, p_better (P(most accurate > run)
                 on validation; null: not paired), paired, credible}] (every other eligible run), tied [run]
                 (the most accurate and those it is not credibly better than), chosen (the fastest of the
                 tied; null when no candidate meets every requirement), basis: only_eligible |
                 credibly_most_accurate | fastest_of_tied | none_eligible}
    decision    the decision matrix (`decision_matrix`), a sensitivity view of the choice: {chosen_on, weights,
                 normalisation, rows [{run, candidate, values {criterion: raw}, scores {criterion: 0..1}, total,
                 missing [criterion], speed_variant, train_seconds, model_size_mb, parameters}], winner,
                 runner_up, differs (the winner is not selection.chosen), winner_meets_requirements,
                 alternatives [{name, weights, winner, differs, winner_meets_requirements}], excluded [{run,
                 reason}]}
    best        {chosen_on: "validation", overall: selection.chosen (null when no candidate meets every
                 requirement), per_type [{type, run, selection_f1, f1 (test, of that run), support (test)}]}
    pairwise    [{a, b, mean_difference, ci [lo, hi], p_a_better, p_b_better, p_tie}]  test micro-F1 A - B
                 over the same resampled documents; a has the higher F1; P(tie) counts resamples where
                 the two are equal, which count for neither model
    pairwise_selection  the same on validation: what a "credibly better" choice reads
    unpaired    [{a, b, part, reason}]  pairs skipped because their documents differ
    figures     {name: path relative to the comparison folder}
    seed_summary  "seeds.json" when some compared runs share a recipe and differ only by seed, else null

`comparison/seeds.json` (written only then, see `seed_summary`):

    part, selection_part
    groups      [{model, recipe {training settings but the seed; a combined run's: its weights, decoder,
                  crf_run and transformer {its transformer part's recipe}}, seeds [int] (a combined
                  run's: its transformer part's), runs [{run, seed, validation_f1, test_f1,
                  test_f1_ci [lo, hi], test_macro_f1}],
                  validation_f1, test_f1, test_macro_f1: {mean, std (sample), min, max}}]
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import CRITERIA, AnalysisConfig, CompareConfig, parse_weights
from pipeline.core.errors import ConfigError, MissingInputError
from pipeline.core.layout import (
    Outputs,
    RunFolder,
    read_combined_parts,
    read_optional_record,
    read_run_config,
    write_record,
)
from pipeline.evaluation import figures, metrics
from pipeline.evaluation.ablation import ablation
from pipeline.evaluation.analyze import load_part, run_types, tier_scores
from pipeline.evaluation.selection import ROW_SPLIT, against_choice, requirements, select

log = logging.getLogger(__name__)


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


def bench_speed(bench: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The subject `bench` chose on validation (the fastest within its F1 tolerance of fp32) at its best batch
    size: the one reader of bench.json's speed and memory for choosing a model. None without a benchmark."""
    chosen = ((bench or {}).get("summary") or {}).get("chosen")
    rows = [row for row in (bench or {}).get("variants") or [] if chosen and row.get("label") == chosen["label"]]
    if not rows:
        return None
    best = max(rows, key=lambda row: row["docs_per_second"])
    keys = ("label", "variant", "batch_size", "device", "docs_per_second", "peak_memory_mb", "validation_micro_f1")
    return {key: best.get(key) for key in keys}


def model_size_mb(run_dir: Path) -> float | None:
    """Megabytes of the saved model as trained (weights, tokenizer, tag map); ONNX exports made by `bench` are
    not counted. None when the run kept no model."""
    folder = RunFolder(run_dir)
    if not folder.model.is_dir():
        return None
    files = [p for p in folder.model.rglob("*") if p.is_file() and folder.onnx not in p.parents]
    return round(sum(p.stat().st_size for p in files) / 2**20, 2)


def tier_f1(counts: metrics.Counts, run_config: dict[str, Any], config: AnalysisConfig) -> dict[str, float]:
    scores = tier_scores(counts, run_config.get("types", {}), config.resamples, config.seed)
    return {tier: values["f1"] for tier, values in scores.items()}


def model_row(
    run_dir: Path, counts: metrics.Counts, selection: metrics.Counts, config: AnalysisConfig
) -> dict[str, Any]:
    run_config = read_run_config(run_dir)
    run_metrics = read_optional_record(RunFolder(run_dir).metrics, "metrics", run_dir.name) or {}
    bench = read_optional_record(RunFolder(run_dir).bench, "bench", run_dir.name)
    tiers, selection_tiers = tier_f1(counts, run_config, config), tier_f1(selection, run_config, config)
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
        "speed": bench_speed(bench),
        "model_size_mb": model_size_mb(run_dir),
        "selection": {
            **part_scores(selection, config),
            "tiers": selection_tiers,
            "rare_f1": selection_tiers.get("rare"),
        },
    }


NORMALISATION = (
    "each criterion as a share of the best candidate: value / best for validation F1, speed and validation "
    "rare-tier F1, best / value for memory (lower is better); a criterion not measured for a run scores 0"
)
SINGLE = {"f1": "F1 only", "speed": "speed only", "rare": "rare-tier F1 only", "memory": "memory only"}


def alternatives(values: dict[str, dict[str, float | None]]) -> dict[str, str]:
    """The other weightings tried: each criterion alone (when some candidate measured it), then an equal weighting."""
    measured = [name for name in CRITERIA if any(v[name] is not None for v in values.values())]
    return {
        **{SINGLE[name]: f"{name}=1" for name in measured},
        "an equal weighting": ",".join(f"{n}=1" for n in CRITERIA),
    }


def criteria_values(model: dict[str, Any]) -> dict[str, float | None]:
    """The raw value of each criterion: validation micro-F1, docs/s and peak inference memory (MB) of the
    fastest variant that keeps F1, validation rare-tier F1."""
    speed = model.get("speed") or {}
    return {
        "f1": model["selection"]["micro"]["f1"],
        "speed": speed.get("docs_per_second"),
        "rare": model["selection"].get("rare_f1"),
        "memory": speed.get("peak_memory_mb"),
    }


def normalised(values: dict[str, dict[str, float | None]]) -> dict[str, dict[str, float]]:
    """Share of the best run per criterion (memory: lower is better); not measured scores 0."""
    scores: dict[str, dict[str, float]] = {run: {} for run in values}
    for name in CRITERIA:
        measured = [value for v in values.values() if (value := v[name]) is not None and value > 0]
        best = (min if name == "memory" else max)(measured) if measured else None
        for run, v in values.items():
            value = v[name]
            if best is None or value is None or value <= 0:
                scores[run][name] = 0.0
            else:
                scores[run][name] = round(best / value if name == "memory" else value / best, 4)
    return scores


def weighted_winner(scores: dict[str, dict[str, float]], weights: dict[str, float], f1: dict[str, float]) -> str:
    """The run with the highest weighted total (ties: the higher validation F1)."""
    return max(scores, key=lambda run: (total(scores[run], weights), f1[run]))


def total(scores: dict[str, float], weights: dict[str, float]) -> float:
    return round(sum(weights[name] * scores[name] for name in CRITERIA) / sum(weights.values()), 4)


def decision_matrix(models: Sequence[dict[str, Any]], weights: dict[str, float], part: str) -> dict[str, Any]:
    """Score every document-split run on the criteria, weight them, and read the winner from the totals
    (Task 1.9.1); also the winner under other weightings. Not the rule that chooses (`selection.select` is):
    `against_choice` sets it beside the choice as a sensitivity view.
    Row-split runs are listed but never candidates: their test documents leak into training."""
    candidates = [m for m in models if m.get("split_strategy", "document") != "rows"]
    if not candidates:
        raise ConfigError("the decision matrix needs a run on the document split; every run given uses the row split")
    values = {m["run"]: criteria_values(m) for m in candidates}
    scores = normalised(values)
    f1: dict[str, float] = {m["run"]: m["selection"]["micro"]["f1"] for m in candidates}
    ranked = sorted(scores, key=lambda run: (total(scores[run], weights), f1[run]), reverse=True)
    rows = []
    for model in models:
        run = model["run"]
        rows.append(
            {
                "run": run,
                "candidate": run in scores,
                "values": values.get(run, criteria_values(model)),
                "scores": scores.get(run),
                "total": total(scores[run], weights) if run in scores else None,
                "missing": [name for name, value in values.get(run, {}).items() if value is None],
                "speed_variant": model.get("speed"),
                "train_seconds": model.get("train_seconds"),
                "model_size_mb": model.get("model_size_mb"),
                "parameters": model.get("parameters"),
            }
        )
    return {
        "chosen_on": part,
        "weights": weights,
        "normalisation": NORMALISATION,
        "rows": rows,
        "winner": ranked[0],
        "runner_up": ranked[1] if len(ranked) > 1 else None,
        "alternatives": [
            {"name": name, "weights": parse_weights(text), "winner": weighted_winner(scores, parse_weights(text), f1)}
            for name, text in alternatives(values).items()
        ],
        "excluded": [{"run": m["run"], "reason": ROW_SPLIT} for m in models if m["run"] not in scores],
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
        except metrics.UnpairedRunsError as exc:
            unpaired.append({"a": first, "b": second, "part": part, "reason": str(exc)})
            continue
        pairs.append({"a": first, "b": second, **result})
    return pairs, unpaired


RUN_ONLY_SETTINGS = ("seed", "seeds", "output_dir", "wandb", "wandb_log_text", "threads")  # not the recipe
PART_SETTINGS = ("run", "crf_run")  # a combined run's parts as typed; combined.json names them resolved


def recipe_of(run_dir: Path, run_config: dict[str, Any]) -> tuple[dict[str, Any], int] | None:
    """What was trained and with which seed: model, data split and every training setting but the seed
    and where or how the run was logged. A combined run's recipe is its transformer part's recipe with
    its CRF run and its own settings (weights, decoder), and its seed is its transformer part's, so the
    combinations of one recipe's seed runs with one CRF form a seed group too. None for a run without a
    seed (the CRF) and for a combined run whose parts are gone (with a warning)."""
    try:
        parts = read_combined_parts(run_dir)
    except MissingInputError as exc:
        log.warning("%s; left out of the seed summary", exc)
        return None
    settings = run_config.get("train") or {}
    if parts is not None:
        transformer_dir = Path(parts["transformer_dir"])
        transformer = recipe_of(transformer_dir, read_run_config(transformer_dir))
        if transformer is None:
            return None
        own = {k: v for k, v in settings.items() if k not in RUN_ONLY_SETTINGS + PART_SETTINGS}
        combined = {**own, "crf_run": parts["crf_run"], "transformer": transformer[0]["train"]}
        return {"split_hash": run_config.get("split_hash"), "train": combined}, transformer[1]
    if "seed" not in settings:
        return None
    recipe = {k: v for k, v in settings.items() if k not in RUN_ONLY_SETTINGS}
    return {"split_hash": run_config.get("split_hash"), "train": recipe}, int(settings["seed"])


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)),
        "min": float(min(values)),
        "max": float(max(values)),
    }


def seed_summary(
    models: Sequence[dict[str, Any]], recipes: dict[str, tuple[dict[str, Any], int] | None]
) -> list[dict[str, Any]]:
    """Runs of one recipe (`recipe_of`, by run name) trained with at least two seeds: validation and test
    F1 per seed, their mean and spread. A seed trained twice counts once, with its run compared last."""
    groups: dict[str, dict[int, dict[str, Any]]] = {}
    for model in models:
        found = recipes[model["run"]]
        if found is not None:
            groups.setdefault(json.dumps(found[0], sort_keys=True), {})[found[1]] = model
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
    run_dirs: Sequence[str | Path], output_dir: str | Path = "outputs", config: CompareConfig | None = None
) -> Path:
    """Compare runs: choices on their validation predictions, scores on test; returns comparison.json."""
    config = config or CompareConfig()
    if not run_dirs:
        raise ConfigError("compare needs at least one run")
    counts, selection, models, recipes = {}, {}, [], {}
    for run_dir in map(Path, run_dirs):
        run_config = read_run_config(run_dir)
        recipes[run_dir.name] = recipe_of(run_dir, run_config)
        counts[run_dir.name] = part_counts(run_dir, run_config, config.part)
        selection[run_dir.name] = part_counts(run_dir, run_config, config.calibration_part)
        models.append(model_row(run_dir, counts[run_dir.name], selection[run_dir.name], config))
    pairs, unpaired = pairwise(counts, {m["run"]: m["micro"]["f1"] for m in models}, config.part, config)
    selection_f1 = {m["run"]: m["selection"]["micro"]["f1"] for m in models}
    selection_pairs, selection_unpaired = pairwise(selection, selection_f1, config.calibration_part, config)
    matrix = decision_matrix(models, parse_weights(config.criteria_weights), config.calibration_part)
    chosen = select(models, selection_pairs, requirements(config), config.credible, config.calibration_part)
    if chosen["chosen"] is None:
        failed = "; ".join(
            f"{row['run']}: {row['requirement']} ({row['note'] or row['value']})" for row in chosen["failed"]
        )
        log.warning("no run meets every deployment requirement, so none is chosen (%s)", failed)
    comparison = {
        "runs": [m["run"] for m in models],
        "part": config.part,
        "selection_part": config.calibration_part,
        "resamples": config.resamples,
        "seed": config.seed,
        "models": models,
        "selection": chosen,
        "decision": against_choice(matrix, chosen),
        "best": {
            "chosen_on": config.calibration_part,
            "overall": chosen["chosen"],
            "per_type": best_per_type(models),
        },
        "pairwise": pairs,
        "pairwise_selection": selection_pairs,
        "unpaired": unpaired + selection_unpaired,
    }
    out = Outputs(output_dir)
    write_record(out.ablation, "ablation", ablation(list(map(Path, run_dirs)), counts, selection, config))
    groups = seed_summary(models, recipes)
    if groups:
        seeds = {"part": config.part, "selection_part": config.calibration_part, "groups": groups}
        comparison["seed_summary"] = write_record(out.seeds, "seeds", seeds).name
    else:
        out.seeds.unlink(missing_ok=True)  # no stale summary of runs no longer compared
        comparison["seed_summary"] = None
    drawn = figures.comparison_figures(comparison, out.comparison_dir / "figures")
    comparison["figures"] = {name: str(path.relative_to(out.comparison_dir)) for name, path in drawn.items()}
    return write_record(out.comparison, "comparison", comparison)
