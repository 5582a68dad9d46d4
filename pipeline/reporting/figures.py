"""Figures only the report draws, and PNG embedding of every figure a report page shows.

The analysis and comparison figures come from `pipeline.evaluation.figures` (drawn from the same JSON);
this module adds the data page's figure and turns Figures and saved PNGs into notebook images.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from pipeline.core.layout import RunFolder
from pipeline.evaluation.figures import OTHER, TIER_COLOURS, comparison_f1
from pipeline.modeling.stopping import kept_epoch
from pipeline.reporting import facts
from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.narrative import no_curves_sentence

# what each analysis figure shows, for readers who cannot see it (the <img alt> of the site)
ANALYSIS_ALT = {
    "f1_by_type": "F1 per entity type, coloured by training-frequency tier",
    "frequency_vs_f1": "training mentions against F1 for each entity type",
    "confusion_heatmap": "counts of gold types predicted as other types, for the most frequent gold types",
    "confidence_histogram": "confidence of correct and of wrong predicted spans",
    "threshold_curves": "precision, recall and coverage at each confidence threshold",
    "reliability_diagram": "span confidence against span accuracy, before and after temperature scaling",
}


@dataclass(frozen=True)
class Picture:
    """A PNG with its alternative text; nbconvert writes the text into the site's <img alt>."""

    data: bytes
    alt: str

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict[str, str], dict[str, Any]]:
        return (
            {"image/png": base64.b64encode(self.data).decode("ascii"), "text/plain": self.alt},
            {"image/png": {"alt": self.alt}},
        )


def png(figure: Figure) -> Picture:
    """The figure embedded as PNG whatever the kernel's backend; its first axes title is the alt text."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    title = next((axes.get_title() for axes in figure.axes if axes.get_title()), "figure")
    return Picture(buffer.getvalue(), title)


def missing(what: str, command: str) -> Any:
    from IPython.display import Markdown

    return Markdown(f"*{what} not drawn yet: run `{command}`.*")


def comparison_figure(comparison: dict[str, Any] | None) -> Any:
    """Micro-F1 per run with intervals, from comparison.json."""
    if not comparison:
        return missing("The model comparison figure", "python -m pipeline compare RUN [RUN ...]")
    return png(comparison_f1(comparison))


def speed_accuracy_figure(runs: Sequence[RunInputs], students: bool = False) -> Any:
    """Validation micro-F1 against docs/s of every benchmarked subject (`facts.speed_accuracy`, with the
    students timed beside a run when `students`), the front joined by a line: what each step in speed costs
    in accuracy."""
    points = facts.speed_accuracy(runs, students)
    if not points:
        return missing("The speed-accuracy figure", "python -m pipeline bench --run RUN")
    figure = Figure(figsize=(8, 3.8))
    axes = figure.subplots()
    for run in dict.fromkeys(point["run"] for point in points):
        mine = [point for point in points if point["run"] == run]
        axes.scatter([p["docs_per_second"] for p in mine], [p["validation_micro_f1"] for p in mine], label=run)
    front = sorted((p for p in points if p["front"]), key=lambda p: p["docs_per_second"])
    axes.plot([p["docs_per_second"] for p in front], [p["validation_micro_f1"] for p in front], color="black", lw=0.8)
    for point in front:
        axes.annotate(point["subject"], (point["docs_per_second"], point["validation_micro_f1"]), fontsize=7)
    axes.set_xscale("log")
    axes.set_xlabel("documents per second (median over rounds, best batch size; log scale)")
    axes.set_ylabel("validation micro-F1")
    axes.legend(fontsize=7)
    axes.set_title("Speed against accuracy of every benchmarked subject; the front joined")
    return png(figure)


def analysis_figure(run: RunInputs, name: str) -> Any:
    """A figure the analysis stage saved for this run (analysis.json figures: name -> PNG path)."""
    relative = ((run.analysis or {}).get("figures") or {}).get(name)
    path = RunFolder(run.folder).analysis_dir / relative if relative else None
    if path is None or not Path(path).exists():
        return missing(f"The figure {name}", f"python -m pipeline analyze --run {run.name}")
    return Picture(Path(path).read_bytes(), f"{run.label}: {ANALYSIS_ALT.get(name, name.replace('_', ' '))}")


def mentions_by_tier(frame: pd.DataFrame) -> Figure:
    """Training mentions per type on a log scale, coloured by tier: where the tier thresholds cut."""
    ordered = frame.sort_values("train", ascending=False)
    figure = Figure(figsize=(8, 3.5))
    axes = figure.subplots()
    axes.bar(
        ordered["type"],
        ordered["train"].clip(lower=1),
        color=[TIER_COLOURS.get(tier, OTHER) for tier in ordered["tier"]],
    )
    axes.set_yscale("log")
    axes.set_ylabel("training mentions")
    axes.set_title("Training mentions per entity type (log scale), coloured by tier")
    axes.tick_params(axis="x", labelrotation=90, labelsize=6)
    return figure


def training_curves(
    epochs: Sequence[dict[str, Any]], label: str, planned: int | None, patience: int | None, select_on: str = "micro"
) -> Figure:
    """Training and validation loss (left) and validation F1 (right) per epoch: micro, macro and the micro-F1
    of each frequency tier where recorded, so the reader sees when rare types are learned; the kept epoch
    (by `select_on`) marked by a dashed line and, when training ended before its planned epochs, the early
    stop named in the title."""
    best = kept_epoch(epochs, select_on)
    numbers = [row["epoch"] for row in epochs]
    figure = Figure(figsize=(9, 3.3))
    loss, f1 = figure.subplots(1, 2)
    loss.plot(numbers, [row.get("train_loss") for row in epochs], marker="o", label="training loss")
    loss.plot(numbers, [row.get("val_loss") for row in epochs], marker="o", label="validation loss")
    f1.plot(numbers, [row["val_f1"] for row in epochs], marker="o", color="#16a34a", label="micro-F1")
    if any("val_macro_f1" in row for row in epochs):
        f1.plot(numbers, [row.get("val_macro_f1") for row in epochs], marker="o", color="black", label="macro-F1")
    for tier, colour in TIER_COLOURS.items():
        if any(f"val_{tier}_f1" in row for row in epochs):
            values = [row.get(f"val_{tier}_f1", np.nan) for row in epochs]
            f1.plot(numbers, values, linestyle=":", marker=".", color=colour, label=f"{tier} tier micro-F1")
    for axes in (loss, f1):
        axes.axvline(best["epoch"], color="#6b7280", linestyle="--", label=f"kept: epoch {best['epoch']}")
        axes.set_xlabel("epoch")
        axes.legend(fontsize=7)
    loss.set_ylabel("loss")
    f1.set_ylabel("validation F1")
    stopped = numbers[-1]
    ending = (
        f"early stopping after epoch {stopped} of {planned} (patience {patience})"
        if planned and stopped < planned
        else f"all {stopped} epochs run"
    )
    loss.set_title(
        f"{label}: loss and validation F1 per epoch; kept epoch {best['epoch']} (best {select_on}), {ending}"
    )
    return figure


def all_training_curves(curves: Sequence[tuple[str, Sequence[dict[str, Any]], str]]) -> Figure:
    """Validation loss and validation micro-F1 per epoch of every run with epochs (label, epochs, the score
    it kept its epoch by), the kept epoch of each starred."""
    figure = Figure(figsize=(9, 3.3))
    loss, f1 = figure.subplots(1, 2)
    for label, epochs, select_on in curves:
        numbers = [row["epoch"] for row in epochs]
        (line,) = f1.plot(numbers, [row["val_f1"] for row in epochs], marker="o", markersize=3, label=label)
        loss.plot(numbers, [row.get("val_loss") for row in epochs], marker="o", markersize=3, label=label)
        best = kept_epoch(epochs, select_on)
        f1.plot([best["epoch"]], [best["val_f1"]], marker="*", markersize=12, color=line.get_color())
    for axes, name in ((loss, "validation loss"), (f1, "validation micro-F1")):
        axes.set_xlabel("epoch")
        axes.set_ylabel(name)
        axes.legend(fontsize=7)
    loss.set_title("Validation loss and validation F1 per epoch of every run; the kept epoch starred")
    return figure


def length_figure(by_length: Sequence[dict[str, Any]], buckets: Sequence[dict[str, Any]], label: str) -> Figure:
    """Strict F1 per entity length (left) and the boundary-error rate per gold length with its 95% Wilson
    interval (right): where the plan's "longer entities get more boundary errors" can be read off."""
    figure = Figure(figsize=(9, 3.2))
    f1, rate = figure.subplots(1, 2)
    f1.bar([row["length"] for row in by_length], [row["f1"] for row in by_length], color="#2563eb")
    f1.set_xlabel("entity length (words)")
    f1.set_ylabel("strict F1")
    f1.set_ylim(0, 1)
    f1.set_title(f"{label}: F1 and boundary-error rate by entity length")
    shown = [row for row in buckets if row["gold"]]
    values = np.array([row["rate"] for row in shown])
    # rounded JSON can put an interval's end a hair past its rate: bars never get a negative error
    low = np.clip(values - np.array([row["ci"][0] for row in shown]), 0, None)
    high = np.clip(np.array([row["ci"][1] for row in shown]) - values, 0, None)
    rate.bar([row["length"] for row in shown], values, yerr=[low, high], capsize=4, color="#f59e0b")
    rate.set_xlabel("gold entity length (words)")
    rate.set_ylabel("share with a boundary error")
    return figure


def bench_figure(run: RunInputs) -> Any:
    """The bench stage's own bench.png (throughput and memory per variant)."""
    path = RunFolder(run.folder).bench_figure
    if not path.exists():
        return missing("The speed figure", f"python -m pipeline bench --run {run.name}")
    return Picture(path.read_bytes(), f"{run.label}: documents per second of every inference variant and batch size")


def run_curves(run: RunInputs) -> Any:
    """The run page's training curves, or the sentence that says the run has none."""
    from IPython.display import Markdown

    epochs = run.metrics.get("epochs") or []
    if not epochs:
        return Markdown(no_curves_sentence(run.label))
    train = run.config.get("train", {})
    return png(training_curves(epochs, run.label, train.get("epochs"), train.get("patience"), run.select_on))


def comparison_curves(runs: Sequence[RunInputs]) -> list[Any]:
    """Every run's validation curves in one figure, and a sentence naming the runs without epochs
    (`display(*comparison_curves(runs))`)."""
    from IPython.display import Markdown

    curves = [(run.label, run.metrics.get("epochs") or [], run.select_on) for run in runs]
    shown = [curve for curve in curves if curve[1]]
    without = " ".join(no_curves_sentence(label) for label, epochs, _ in curves if not epochs)
    return ([png(all_training_curves(shown))] if shown else []) + ([Markdown(without)] if without else [])


def run_length_figure(run: RunInputs) -> Any:
    errors = (run.analysis or {}).get("errors") or {}
    if not errors.get("boundary_by_length"):
        return missing("The length figure", f"python -m pipeline analyze --run {run.name}")
    return png(length_figure(errors["by_length"], errors["boundary_by_length"]["buckets"], run.label))
