"""The "Methods and experiments" page: how each experiment was run and what it measured, from the JSON.

One function per table or sentence of `report/methods.ipynb`, each reading the records the stages wrote:

    training recipes            runs/<run>/config.json `train` (what the run trained with)
    epochs and early stopping   runs/<run>/metrics.json `epochs`, `train_seconds`, `optimisation_steps`;
                                the stopping rules replayed on the recorded epochs
    chosen on validation        metrics.json `lr_search` | `grid` | `weight_search`
    long documents              data/summary.json, and each benchmarked run's bench.json `windows`
    the ablation                comparison/ablation.json `rows` and `versus`
    seeds                       comparison/seeds.json
    inference variants          bench.json `variants`, `reference`, `summary`, `threads`, `cpu`, `versions`,
                                `skipped`
    GPU                         bench.json rows on a CUDA device and `summary.cpu_vs_gpu`

A number not measured (a run never benchmarked, no seed group, no GPU bench) is a sentence saying which
command measures it, never a blank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.core.provenance import machine_name
from pipeline.modeling.stopping import early_stop, kept_epoch, selection_key
from pipeline.reporting import facts, narrative
from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.tables.formatting import nan_if_none, not_measured, with_interval

LABELS = {True: "every wordpiece", False: "first wordpiece"}


def trained_with_epochs(runs: Sequence[RunInputs]) -> list[RunInputs]:
    """The runs fitted epoch by epoch (transformers); a CRF or a combined run records no epochs."""
    return [run for run in runs if run.metrics.get("epochs")]


def learning_rate(run: RunInputs) -> float | None:
    """The learning rate the run kept: the one chosen on validation when several were tried."""
    chosen = run.metrics.get("selected_lr")
    tried = run.config.get("train", {}).get("lr")
    return chosen if chosen is not None else (tried[0] if isinstance(tried, list) and tried else tried)


def recipe_table(runs: Sequence[RunInputs]) -> pd.DataFrame:
    """What each transformer run trained with, as its config.json records it."""
    rows = []
    for run in trained_with_epochs(runs):
        train = run.config.get("train", {})
        lr, head = learning_rate(run), train.get("head_lr")
        accumulation = train.get("gradient_accumulation_steps", 1)
        rows.append(
            {
                "model": run.label,
                "learning rate (encoder / head)": f"{lr:g} / {head:g}" if lr and head else f"{lr:g}" if lr else "–",
                "batch": f"{train.get('batch_size', '–')}" + (f" × {accumulation}" if accumulation > 1 else ""),
                "windows (length / overlap)": f"{train.get('max_length', '–')} / {train.get('overlap', '–')}",
                "long documents": run.long_docs,
                "labels on": LABELS.get(train.get("label_all_subwords"), "–"),
                "epochs at most (patience)": f"{train.get('epochs', '–')} ({train.get('patience', '–')})",
                "precision": train.get("precision", "–"),
                "decoder": train.get("decoder", "–"),
                "seed": train.get("seed", "–"),
            }
        )
    return pd.DataFrame(rows) if rows else not_measured("a transformer run", "python -m pipeline train --model minilm")


def training_table(runs: Sequence[RunInputs]) -> pd.DataFrame:
    """Per transformer run: epochs run, the kept epoch (the best validation F1), whether early stopping
    ended it, optimisation steps, time per epoch (training and its validation pass) and peak memory."""
    rows = []
    for run in trained_with_epochs(runs):
        epochs = run.metrics["epochs"]
        planned, patience = run.config.get("train", {}).get("epochs"), run.config.get("train", {}).get("patience")
        kept, seconds = kept_epoch(epochs, run.select_on), run.metrics.get("train_seconds")
        rows.append(
            {
                "model": run.label,
                "epochs run": len(epochs),
                "kept epoch": kept["epoch"],
                "kept by": run.select_on,
                "validation micro-F1 of the kept epoch": kept["val_f1"],
                "validation macro-F1 of the kept epoch": nan_if_none(kept.get("val_macro_f1")),
                "ended by": f"early stopping (patience {patience})"
                if planned and len(epochs) < planned
                else "the epoch limit",
                "optimisation steps": nan_if_none(run.metrics.get("optimisation_steps")),
                "seconds per epoch": nan_if_none(seconds and seconds / len(epochs)),
                "training time (min)": nan_if_none(seconds and seconds / 60),
                "peak memory (MB)": nan_if_none(run.metrics.get("peak_memory_mb")),
                "device": facts.training_device(run),
                "machine": machine_name(run.config.get("machine")),
            }
        )
    return pd.DataFrame(rows) if rows else not_measured("a transformer run", "python -m pipeline train --model minilm")


def stopping_sentence(run: RunInputs) -> str:
    """Whether the run stopped early, or was still improving when it reached its epoch limit."""
    epochs = run.metrics["epochs"]
    planned = run.config.get("train", {}).get("epochs")
    kept, last = kept_epoch(epochs, run.select_on), epochs[-1]["epoch"]
    head = (
        f"{run.label} ran {len(epochs)} epochs and kept epoch {kept['epoch']}, its best by {run.select_on} "
        f"(validation micro-F1 {kept['val_f1']:.3f})"
    )
    if planned and len(epochs) < planned:
        return f"{head}: early stopping ended it {len(epochs) - kept['epoch']} epochs later, before its limit of {planned}."
    if kept["epoch"] == last:
        return f"{head}, its last: it was still improving at its epoch limit, so more epochs may help."
    return f"{head}: it ran to its epoch limit of {planned or len(epochs)}."


STOPPING_RULES = (("micro", 2), ("micro", 3), ("micro", 5), ("macro", 3), ("mean", 3), ("mean", 5))


def stopping_rules_table(runs: Sequence[RunInputs]) -> pd.DataFrame:
    """Early-stopping rules (selection score, patience) replayed on every transformer run's recorded epochs
    (`pipeline.modeling.stopping.early_stop`, exact: a run's schedule does not depend on when it stops): the
    epoch each rule stops after and keeps, and the kept epoch's validation micro-F1, macro-F1 and rare-tier
    F1. A rule that would train past where the run stopped is not known and says so. Validation only: the
    rule is chosen here, test is reported for what it chose."""
    rows = []
    for run in trained_with_epochs(runs):
        epochs, planned = run.metrics["epochs"], run.config.get("train", {}).get("epochs")
        for select_on, patience in STOPPING_RULES:
            if not all(selection_key_present(epoch, select_on) for epoch in epochs):
                continue
            outcome = early_stop(epochs, select_on, patience, planned)
            kept = outcome["kept"] if outcome else {}
            rows.append(
                {
                    "model": run.label,
                    "rule (score, patience)": f"{select_on}, {patience}",
                    "stops after epoch": outcome["stopped"] if outcome else "past the recorded epochs",
                    "kept epoch": kept.get("epoch", "–"),
                    "validation micro-F1": nan_if_none(kept.get("val_f1")),
                    "validation macro-F1": nan_if_none(kept.get("val_macro_f1")),
                    "validation rare-tier F1": nan_if_none(kept.get("val_rare_f1")),
                    "the run's own rule": (select_on, patience)
                    == (run.select_on, run.config.get("train", {}).get("patience")),
                }
            )
    if rows:
        return pd.DataFrame(rows)
    return not_measured(
        "validation macro-F1 per epoch", "python -m pipeline train --model minilm (it records it with every epoch)"
    )


def selection_key_present(epoch: dict[str, Any], select_on: str) -> bool:
    """Whether an epoch record holds the score `select_on` compares (older runs recorded micro-F1 only)."""
    return epoch.get(selection_key(select_on)) is not None


def search_table(runs: Sequence[RunInputs]) -> pd.DataFrame:
    """What every run chose on validation, in one table: learning rates, the CRF's c1/c2 grid, the
    combination's weight and prior correction (each run's own page lists every point)."""
    rows = []
    for run in runs:
        found = run.metrics
        if found.get("grid"):
            points, chosen = found["grid"], found["selected"]
            kept = f"c1 {chosen['c1']:g}, c2 {chosen['c2']:g}"
            scores, seconds = [p["validation_f1"] for p in points], found.get("grid_seconds")
            searched = "CRF c1 × c2"
            best = next(p["validation_f1"] for p in points if (p["c1"], p["c2"]) == (chosen["c1"], chosen["c2"]))
        elif found.get("weight_search"):
            points = found["weight_search"]
            tau = found.get("selected_tau")
            kept = f"weight {found['selected_weight']:g}" + ("" if tau is None else f", tau {tau:g}")
            scores, seconds = [p["validation_f1"] for p in points], found.get("combine_seconds")
            searched = "transformer weight" + (" × prior tau" if tau is not None else "")
            best = next(
                p["validation_f1"] for p in points if (p["weight"], p.get("tau")) == (found["selected_weight"], tau)
            )
        elif len(found.get("lr_search") or []) > 1:
            points = found["lr_search"]
            kept = f"lr {found['selected_lr']:g}"
            scores, seconds = [p["best_val_f1"] for p in points], found.get("train_seconds_all_trials")
            searched, best = "learning rate", max(scores)
        else:
            continue
        rows.append(
            {
                "model": run.label,
                "searched": searched,
                "points": len(points),
                "kept": kept,
                "validation F1 of the kept point": best,
                "validation F1 over the points": f"{min(scores):.3f}–{max(scores):.3f}",
                "search time (min)": nan_if_none(seconds and seconds / 60),
            }
        )
    return pd.DataFrame(rows or [{"chosen on validation": "nothing: every run was trained with one setting"}])


# --- long documents and inference windows ---------------------------------------------------------


def long_documents_sentence(summary: dict[str, Any] | None) -> str:
    """How many documents a 512-wordpiece cut would shorten and what it would never see (data/summary.json)."""
    if not summary:
        return "No data summary: run `python -m pipeline data`."
    return (
        f"{summary['documents_over_512_wordpieces']} of the {summary['documents']} documents are longer than 512 "
        f"wordpieces ({summary['tokenizer']} tokenizer); a 512-wordpiece cut would never see "
        f"{summary['truncation_lost_entities']} entities ({narrative.percent(summary['truncation_lost_entity_share'])}"
        "). The window mode predicts every word from overlapping windows, and each word takes the window where "
        "it lies farthest from an edge."
    )


def windows_choice_table(runs: Sequence[RunInputs]) -> pd.DataFrame:
    """Per benchmarked run: the windows it trained with beside those bench chose for inference on
    validation (the fewest encoder FLOPs per wordpiece within the F1 tolerance), and what the change costs."""
    rows = []
    for run in runs:
        options = facts.bench_rows(run, "windows")
        own = next((o for o in options if o["run_windows"]), None)
        chosen = next((o for o in options if o["chosen"]), None)
        if not own or not chosen:
            continue
        saving = None
        if own.get("mflop_per_wordpiece") and chosen.get("mflop_per_wordpiece"):
            saving = 1 - chosen["mflop_per_wordpiece"] / own["mflop_per_wordpiece"]
        rows.append(
            {
                "model": run.label,
                "trained with": f"{own['max_length']}/{own['overlap']}",
                "chosen for inference": f"{chosen['max_length']}/{chosen['overlap']}",
                "candidates": len(options),
                "validation F1, trained windows (fp32)": f"{own['validation_micro_f1']:.4f}",
                "validation F1, chosen windows (fp32)": f"{chosen['validation_micro_f1']:.4f}",
                "difference (points)": f"{narrative.points(chosen['validation_micro_f1'] - own['validation_micro_f1'])}",
                "encoder FLOPs saved": "–" if saving is None else narrative.percent(saving),
            }
        )
    return pd.DataFrame(rows) if rows else not_measured("inference windows", "python -m pipeline bench --run RUN")


# --- decoding, tuning and combination: the ablation ------------------------------------------------


def ablation_ladder(ablation: dict[str, Any] | None) -> pd.DataFrame:
    """The ablation's rows in the order validation ranks them (the ladder), each with what it adds over
    the rung below on validation (which chooses) and on test (reported)."""
    rows = list((ablation or {}).get("rows") or [])
    if not rows:
        return not_measured("ablation", "python -m pipeline compare <transformer run> <crf run> <combined run>")
    ladder = sorted(rows, key=lambda row: row["validation_f1"])
    shown = []
    for below, row in zip([None, *ladder], ladder):
        shown.append(
            {
                "lever": row["lever"],
                "validation micro-F1": row["validation_f1"],
                "over the rung below (validation points)": "–"
                if below is None
                else narrative.points(row["validation_f1"] - below["validation_f1"]),
                "test micro-F1 [95% CI]": with_interval(row["f1"], row["f1_ci"]),
                "over the rung below (test points)": "–"
                if below is None
                else narrative.points(row["f1"] - below["f1"]),
                "test macro-F1": row["macro_f1"],
                "test rare-tier F1": nan_if_none(row["rare_f1"]),
            }
        )
    return pd.DataFrame(shown[::-1])


def ablation_sentence(ablation: dict[str, Any] | None) -> str:
    """The top of the ladder against its foot, and each combined run against each CRF (paired, on test)."""
    rows = sorted((ablation or {}).get("rows") or [], key=lambda row: row["validation_f1"])
    if len(rows) < 2:
        return (
            "The ablation needs two levers: `python -m pipeline compare` on a transformer run, a CRF and a combination."
        )
    top, foot = rows[-1], rows[0]
    sentences = [
        f"From the lowest rung ({foot['lever']}) to the highest ({top['lever']}), validation micro-F1 rises by "
        f"{narrative.points(top['validation_f1'] - foot['validation_f1'])} points and test micro-F1 by "
        f"{narrative.points(top['f1'] - foot['f1'])} points."
    ]
    for pair in (ablation or {}).get("versus") or []:
        low, high = pair["ci"]
        sentences.append(
            f"{pair['combined']} against {pair['crf']} on {pair['part']}: {narrative.points(pair['mean_difference'])} "
            f"points [{narrative.points(low)}, {narrative.points(high)}], P(combined better) "
            f"{pair['p_combined_better']:.2f}."
        )
    return " ".join(sentences)


# --- seeds --------------------------------------------------------------------------------------


def seed_sentences(seeds: dict[str, Any] | None) -> str:
    """How far each recipe's scores move with the seed (comparison/seeds.json), as a bullet list."""
    if not seeds or not seeds.get("groups"):
        return (
            "No recipe here was trained with several seeds: `python -m pipeline train --seeds 42,43,44`, then "
            "`python -m pipeline combine --run <model>-seed<N> --crf-run crf` for each seed run, then "
            "`python -m pipeline compare` on all those runs."
        )
    items = []
    for group in seeds["groups"]:
        test, macro, validation = group["test_f1"], group["test_macro_f1"], group["validation_f1"]
        items.append(
            f"{group['model']} over {len(group['runs'])} seeds ({', '.join(map(str, group['seeds']))}): test micro-F1 "
            f"{test['min']:.3f} to {test['max']:.3f} (a spread of {100 * (test['max'] - test['min']):.1f} points, "
            f"standard deviation {100 * test['std']:.1f}); test macro-F1 {macro['min']:.3f} to {macro['max']:.3f} "
            f"({100 * (macro['max'] - macro['min']):.1f} points); validation micro-F1 {validation['min']:.3f} to "
            f"{validation['max']:.3f}."
        )
    return "\n".join(f"- {item}" for item in items)


# --- inference variants against the transformers pipeline ------------------------------------------


def benchmarked(runs: Sequence[RunInputs]) -> list[RunInputs]:
    return [run for run in runs if facts.bench_rows(run, "variants")]


def best_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each subject's row at its fastest batch size, in bench's order."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["label"] not in best or row["docs_per_second"] > best[row["label"]]["docs_per_second"]:
            best[row["label"]] = row
    return list(best.values())


def spread_text(median: float, low: float | None, high: float | None, digits: int = 1) -> str:
    if low is None or high is None:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def variant_table(run: RunInputs) -> pd.DataFrame:
    """Every inference variant of the run at its best batch size beside the plain transformers pipeline:
    documents per second and the ratio to the pipeline (median and range over rounds), F1 on both sets,
    the test F1 it gives up against fp32, memory and the share of the machine's peak it reaches."""
    bench = run.bench or {}
    chosen = ((bench.get("summary") or {}).get("chosen") or {}).get("label")
    rows = best_rows(facts.bench_rows(run, "variants"))
    base = next((row for row in rows if row["label"] == "fp32"), rows[0] if rows else None)
    reference = bench.get("reference") or {}
    table = []
    for row in [*rows, *best_rows(reference.get("rows") or [])]:
        is_reference = row["label"] == "transformers pipeline"
        ratio = row.get("ratio_to_reference")
        test_f1 = reference.get("test_micro_f1") if is_reference else row.get("test_micro_f1")
        table.append(
            {
                "subject": row["label"] + (" (chosen)" if row["label"] == chosen else ""),
                "device": row["device"],
                "batch": row["batch_size"],
                "docs/s (median, range)": spread_text(
                    row["docs_per_second"], row.get("docs_per_second_min"), row.get("docs_per_second_max")
                ),
                "× pipeline, same batch": "–"
                if not ratio
                else spread_text(ratio["median"], ratio["min"], ratio["max"], 2),
                "validation F1": nan_if_none(
                    reference.get("validation_micro_f1") if is_reference else row.get("validation_micro_f1")
                ),
                "test F1": nan_if_none(test_f1),
                "test points against fp32": "–"
                if test_f1 is None or base is None or base.get("test_micro_f1") is None
                else narrative.points(test_f1 - base["test_micro_f1"]),
                "peak MB (own process)": nan_if_none(row.get("peak_memory_mb")),
                "share of peak": "–" if row.get("peak_share") is None else f"{100 * row['peak_share']:.1f}%",
            }
        )
    return pd.DataFrame(table)


def machine_details(run: RunInputs) -> str:
    """Where the run's bench ran: threads, the CPU's bf16/int8 instruction sets, the inference libraries, and
    the default variants it did not time there, with why."""
    bench = run.bench or {}
    if not bench.get("variants"):
        return ""
    flags = (bench.get("cpu") or {}).get("flags") or []
    versions = bench.get("versions") or {}
    libraries = ", ".join(
        f"{name} {versions[name]}" for name in ("torch", "onnxruntime", "openvino") if name in versions
    )
    by_reason: dict[str, list[str]] = {}
    for skip in bench.get("skipped") or []:
        by_reason.setdefault(skip["reason"], []).append(skip["variant"])
    skipped = "; ".join(f"{narrative.joined(variants)}: {reason}" for reason, variants in by_reason.items())
    return (
        f"{run.label} was benchmarked on {machine_name(bench.get('machine'))} with {bench.get('threads', '?')} "
        f"threads; the CPU's bf16 and int8 instruction sets: {', '.join(flags) or 'none found'}"
        + (f"; {libraries}." if libraries else ".")
        + (f" Not timed on this machine: {skipped}." if skipped else "")
    )


# --- GPU ----------------------------------------------------------------------------------------


def on_gpu(run: RunInputs) -> bool:
    return any(str(row["device"]).startswith("cuda") for row in facts.bench_rows(run, "variants"))


def gpu_sentence(runs: Sequence[RunInputs]) -> str:
    """Which runs have GPU rows, or how to measure them."""
    measured = [run for run in runs if on_gpu(run)]
    trained = [run.label for run in runs if facts.training_device(run) == "GPU"]
    trained_text = f" Trained on a GPU: {narrative.joined(trained)}." if trained else ""
    if not measured:
        return (
            "No run of this report was benchmarked on a GPU: `python -m pipeline bench --run RUN` on a CUDA machine "
            "times fp32, fp16 and bf16 there, and the same run's CPU variants beside them (docs/gpu.md)." + trained_text
        )
    devices = [f"{run.label} ({(run.bench or {}).get('device')})" for run in measured]
    return (
        f"Benchmarked on a GPU: {narrative.joined(devices)}. "
        "The slowdown of each CPU subject is its batch-1 latency over that of the fastest GPU subject." + trained_text
    )
