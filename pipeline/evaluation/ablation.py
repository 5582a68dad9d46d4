"""The ablation of `compare`: what each lever buys, one row per model state, on the same documents.

A row is a compared run (a transformer with the decoder it was recorded with, a CRF with its own or
tuned c1/c2, a combined run) or a lever a combined run scored on the side (`levers/<lever>/`: its
transformer alone under argmax and under Viterbi, its CRF's marginals under Viterbi, itself without
and with the prior correction), so one
`compare` of the transformer, the CRFs and the combined run lays out every lever. A lever whose
predictions are those of a compared run (its transformer, recorded with the same decoder) is not
repeated, nor is a lever of the same part shown by an earlier combined run, nor the prior lever the
combined run itself chose. Rows are ordered by
validation micro-F1 (the ladder a reader climbs); test is reported.

Record (`comparison/ablation.json`, written by `compare_runs`):

    part, selection_part, resamples, seed
    rows    [{lever, run, source ("run" | "lever"), kind (transformer | crf | combined), validation_f1,
              f1 (test micro), f1_ci [lo, hi], macro_f1, macro_f1_ci, rare_f1, train_seconds}]
    versus  [{combined, crf, part, mean_difference, ci, p_combined_better, p_crf_better}] the paired
            bootstrap of every combined run against every CRF run on the test documents
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import AnalysisConfig, TrainConfig
from pipeline.core.errors import MissingInputError
from pipeline.core.layout import (
    RunFolder,
    read_combined_parts,
    read_lever_predictions,
    read_optional_record,
    read_run_config,
)
from pipeline.evaluation import metrics
from pipeline.evaluation.analyze import run_types, tier_scores

log = logging.getLogger(__name__)

DECODER_NAMES = {"argmax": "argmax then repair", "viterbi": "constrained Viterbi"}
LEGACY_DECODER = "argmax"  # runs recorded before the decoder was an option decoded argmax then repair
LEVERS = {
    "transformer-argmax": ("transformer", "argmax"),
    "transformer-viterbi": ("transformer", "viterbi"),
    "crf-viterbi": ("crf", "viterbi"),
}
PRIOR_LEVERS = ("combined-no-prior", "combined-prior")  # the combined run at another (weight, tau)


def run_kind(run_config: dict[str, Any]) -> str:
    model = run_config.get("model")
    return model if model in ("crf", "combined") else "transformer"


def training_levers(settings: dict[str, Any]) -> str:
    """The levers a transformer was trained with where they differ from the defaults (its encoder layers,
    the rare-type levers; "" for none), so runs of one model told apart only by them are told apart on
    the page."""
    defaults = TrainConfig()
    levers = []
    if settings.get("encoder_layers"):
        levers.append(f"first {settings['encoder_layers']} encoder layers")
    if settings.get("loss", defaults.loss) != defaults.loss:
        levers.append(f"{settings['loss']} loss")
    if settings.get("oversample_rare", defaults.oversample_rare) != defaults.oversample_rare:
        levers.append(f"rare-type windows x{1 + int(settings['oversample_rare'])}")
    return ", ".join(levers)


def run_label(
    run_config: dict[str, Any], run_metrics: dict[str, Any], transformer_settings: dict[str, Any] | None = None
) -> str:
    """What distinguishes a run as a lever: its decoder, its CRF regularisation, its weight, its training
    levers (a combined run's: those of its transformer part, `transformer_settings`)."""
    settings = run_config.get("train", {})
    kind = run_kind(run_config)
    if kind == "crf":
        grid = run_metrics.get("grid") or []
        if len(grid) > 1:
            chosen = run_metrics["selected"]
            return f"CRF tuned on validation (c1={chosen['c1']:g}, c2={chosen['c2']:g}; {len(grid)} grid points)"
        if "c1" not in settings:
            return "CRF"
        c1, c2 = (value[0] if isinstance(value, list) else value for value in (settings["c1"], settings["c2"]))
        return f"CRF c1={c1:g}, c2={c2:g}"
    if kind == "combined":
        weight, tau = run_metrics["selected_weight"], run_metrics.get("selected_tau")
        return combined_label(weight, tau, run_metrics["decoder"], training_levers(transformer_settings or {}))
    decoder = settings.get("decoder", LEGACY_DECODER)
    label = f"{run_config.get('model')} ({settings.get('long_docs', 'window')}), {DECODER_NAMES[decoder]}"
    levers = training_levers(settings)
    return f"{label}, {levers}" if levers else label


def transformer_settings(run_dir: Path) -> dict[str, Any] | None:
    """A combined run's transformer part's training settings (None for other runs, and for a combined run
    whose transformer part is gone: its row is still scored from its own predictions, unnamed levers)."""
    try:
        parts = read_combined_parts(run_dir)
    except MissingInputError as exc:
        log.warning("%s; its transformer's training levers are not named in the ablation", exc)
        return None
    return None if parts is None else read_run_config(parts["transformer_dir"]).get("train", {})


def combined_label(weight: float, tau: float | None, decoder: str, levers: str = "") -> str:
    """A combination by its weight, decoder and prior correction (None: recorded before the correction),
    and its transformer part's training `levers`."""
    label = f"combined: transformer weight {weight:g} + CRF, {DECODER_NAMES[decoder]}"
    if tau is not None:
        label += ", " + ("no prior correction" if tau == 0 else f"prior correction tau={tau:g}")
    return f"{label}; transformer trained with {levers}" if levers else label


def counts_of(records: Sequence[dict[str, Any]], run_config: dict[str, Any], source: str) -> metrics.Counts:
    metrics.validate_predictions(records, set(run_config["tag2id"]) if run_config.get("tag2id") else None, source)
    return metrics.document_counts(sorted(records, key=lambda r: str(r["id"])), run_types(run_config, records))


def row(
    lever: str,
    run: str,
    source: str,
    kind: str,
    test: metrics.Counts,
    validation: metrics.Counts,
    run_config: dict[str, Any],
    train_seconds: float | None,
    config: AnalysisConfig,
) -> dict[str, Any]:
    scores = metrics.scores_from_counts(test)
    intervals = metrics.bootstrap_intervals(test, config.resamples, config.seed)
    tiers = tier_scores(test, run_config.get("types", {}), config.resamples, config.seed)
    return {
        "lever": lever,
        "run": run,
        "source": source,
        "kind": kind,
        "validation_f1": metrics.scores_from_counts(validation)["micro"]["f1"],
        "f1": scores["micro"]["f1"],
        "f1_ci": intervals["micro_f1"],
        "macro_f1": scores["macro"]["f1"],
        "macro_f1_ci": intervals["macro_f1"],
        "rare_f1": tiers.get("rare", {}).get("f1"),
        "train_seconds": train_seconds,
    }


def lever_rows(
    run_dir: Path,
    run_config: dict[str, Any],
    run_metrics: dict[str, Any],
    compared: dict[str, dict[str, Any]],
    config: AnalysisConfig,
    shown: set[tuple[str, str]],
    levers: str,
) -> list[dict[str, Any]]:
    """The levers a combined run scored on the side, less those a compared run or an earlier combined
    run with the same part already shows (`shown`: (lever, part run), updated); `levers`: its transformer
    part's training levers (`training_levers`)."""
    rows = []
    for lever in RunFolder(run_dir).levers():
        if lever in PRIOR_LEVERS:
            rows += prior_lever_rows(run_dir, lever, run_config, run_metrics, config, levers)
            continue
        part_kind, decoder = LEVERS[lever]
        part_run = run_metrics["parts"][part_kind]
        if (lever, part_run) in shown:
            continue
        shown.add((lever, part_run))
        part_config = compared.get(part_run)
        same = part_config is not None and part_config["train"].get("decoder", LEGACY_DECODER) == decoder
        if part_kind == "transformer" and same:
            continue
        part_metrics = read_optional_record(RunFolder(run_dir.parent / part_run).metrics, "metrics", part_run) or {}
        label = (
            f"{part_run} alone, {DECODER_NAMES[decoder]}"
            if part_kind == "transformer"
            else f"{part_run} marginals, {DECODER_NAMES[decoder]}"
        )
        rows.append(lever_row(run_dir, lever, label, part_kind, run_config, part_metrics.get("train_seconds"), config))
    return rows


def lever_row(
    run_dir: Path,
    lever: str,
    label: str,
    kind: str,
    run_config: dict[str, Any],
    train_seconds: float | None,
    config: AnalysisConfig,
) -> dict[str, Any]:
    """One row from a combined run's `levers/<lever>/` predictions of the scored and the selection part."""
    counts = {
        part: counts_of(read_lever_predictions(run_dir, lever, part), run_config, f"{run_dir.name}/levers/{lever}")
        for part in (config.part, config.calibration_part)
    }
    return row(
        label,
        run_dir.name,
        "lever",
        kind,
        counts[config.part],
        counts[config.calibration_part],
        run_config,
        train_seconds,
        config,
    )


def prior_lever_rows(
    run_dir: Path,
    lever: str,
    run_config: dict[str, Any],
    run_metrics: dict[str, Any],
    config: AnalysisConfig,
    levers: str,
) -> list[dict[str, Any]]:
    """The combined run without (or with) the prior correction, unless that is what the run chose."""
    setting = run_metrics["prior_levers"][lever]
    if (setting["weight"], setting["tau"]) == (run_metrics["selected_weight"], run_metrics["selected_tau"]):
        return []
    label = combined_label(setting["weight"], setting["tau"], run_metrics["decoder"], levers)
    return [lever_row(run_dir, lever, label, "combined", run_config, run_metrics.get("train_seconds"), config)]


def ablation(
    run_dirs: Sequence[Path],
    test: dict[str, metrics.Counts],
    validation: dict[str, metrics.Counts],
    config: AnalysisConfig,
) -> dict[str, Any]:
    """The ablation record of the compared runs (their per-document counts already computed by compare)."""
    configs = {d.name: read_run_config(d) for d in run_dirs}
    run_metrics = {d.name: read_optional_record(RunFolder(d).metrics, "metrics", d.name) or {} for d in run_dirs}
    rows: list[dict[str, Any]] = []
    shown: set[tuple[str, str]] = set()
    for run_dir in run_dirs:
        name, run_config = run_dir.name, configs[run_dir.name]
        part_settings = transformer_settings(run_dir)  # read once: a missing part is warned about once
        rows.append(
            row(
                run_label(run_config, run_metrics[name], part_settings),
                name,
                "run",
                run_kind(run_config),
                test[name],
                validation[name],
                run_config,
                run_metrics[name].get("train_seconds"),
                config,
            )
        )
        if run_kind(run_config) == "combined":
            levers = training_levers(part_settings or {})
            rows += lever_rows(run_dir, run_config, run_metrics[name], configs, config, shown, levers)
    versus = []
    for combined in (n for n in configs if run_kind(configs[n]) == "combined"):
        for crf in (n for n in configs if run_kind(configs[n]) == "crf"):
            try:
                result = metrics.paired_bootstrap(test[combined], test[crf], config.resamples, config.seed)
            except ValueError:
                continue  # other documents: compare lists the pair as unpaired
            versus.append(
                {
                    "combined": combined,
                    "crf": crf,
                    "part": config.part,
                    "mean_difference": result["mean_difference"],
                    "ci": result["ci"],
                    "p_combined_better": result["p_a_better"],
                    "p_crf_better": result["p_b_better"],
                }
            )
    return {
        "part": config.part,
        "selection_part": config.calibration_part,
        "resamples": config.resamples,
        "seed": config.seed,
        "rows": sorted(rows, key=lambda r: r["validation_f1"]),
        "versus": versus,
    }
