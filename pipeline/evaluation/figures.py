"""Figures of the analysis and comparison (matplotlib, no pyplot): one function per figure.

Each function takes the dictionaries of analysis.json / comparison.json and returns a Figure, so the
report notebooks can draw the same figures from the JSON; `save` writes it as PNG and SVG atomically.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from pipeline.core.files import atomic_write_bytes

TIER_COLOURS = {"frequent": "#2563eb", "medium": "#f59e0b", "rare": "#dc2626"}
OTHER = "#9ca3af"


def save(figure: Figure, folder: Path, name: str) -> Path:
    """Write `<name>.png` and `<name>.svg`; returns the PNG path."""
    for fmt in ("svg", "png"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=120, bbox_inches="tight")
        atomic_write_bytes(folder / f"{name}.{fmt}", buffer.getvalue())
    return folder / f"{name}.png"


def f1_by_type(analysis: dict[str, Any]) -> Figure:
    """Sorted test F1 per type with bootstrap whiskers, coloured by tier."""
    per_type, ci = analysis["scores"]["per_type"], analysis["scores"]["intervals"].get("per_type_f1", {})
    tiers = {row["type"]: row["tier"] for row in analysis.get("frequency_scatter", [])}
    names = sorted(per_type, key=lambda t: per_type[t]["f1"])
    f1 = np.array([per_type[t]["f1"] for t in names])
    low = np.array([ci.get(t, [v, v])[0] for t, v in zip(names, f1)])
    high = np.array([ci.get(t, [v, v])[1] for t, v in zip(names, f1)])
    figure = Figure(figsize=(7, 1 + 0.22 * len(names)))
    axes = figure.subplots()
    axes.barh(
        names,
        f1,
        xerr=[np.clip(f1 - low, 0, None), np.clip(high - f1, 0, None)],
        capsize=2,
        color=[TIER_COLOURS.get(tiers.get(t, ""), OTHER) for t in names],
    )
    axes.set_xlim(0, 1)
    axes.set_xlabel("test F1 (strict), 95% bootstrap interval over documents")
    axes.set_title(f"F1 by entity type: {analysis['run']}")
    axes.tick_params(axis="y", labelsize=7)
    handles = [Rectangle((0, 0), 1, 1, color=colour) for colour in TIER_COLOURS.values()]
    axes.legend(handles, list(TIER_COLOURS), title="training-frequency tier", loc="lower right", fontsize=7)
    return figure


def uncrowded(points: list[dict[str, Any]], char_width: float = 0.009, height: float = 0.05) -> list[dict[str, Any]]:
    """The points worth a label: largest test support first, skipping a point whose label (drawn to
    the right, `char_width` of the log-x range per character) would overlap one already placed
    within `height` of F1, so that the rare types at F1 0 do not print on top of each other."""
    logs = [float(np.log10(p["train_mentions"])) for p in points]
    span = (max(logs) - min(logs)) or 1.0
    placed: list[tuple[float, float, float]] = []
    chosen = []
    for x, p in sorted(zip(logs, points), key=lambda item: -item[1].get("support", 0)):
        left, right = (x - min(logs)) / span, (x - min(logs)) / span + char_width * len(p["type"])
        if all(right <= a or left >= b or abs(p["f1"] - y) >= height for a, b, y in placed):
            placed.append((left, right, p["f1"]))
            chosen.append(p)
    return chosen


def frequency_vs_f1(analysis: dict[str, Any]) -> Figure:
    """Training mentions (log) against test F1: does F1 follow frequency?"""
    points = [p for p in analysis["frequency_scatter"] if p.get("train_mentions")]
    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for tier, colour in TIER_COLOURS.items():
        chosen = [p for p in points if p["tier"] == tier]
        axes.scatter([p["train_mentions"] for p in chosen], [p["f1"] for p in chosen], color=colour, label=tier)
    for p in uncrowded(points):
        axes.annotate(p["type"], (p["train_mentions"], p["f1"]), fontsize=6, alpha=0.7)
    axes.set_xscale("log")
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("training mentions (log scale)")
    axes.set_ylabel("test F1 (strict)")
    axes.set_title("Training frequency vs F1 per entity type")
    axes.legend(title="tier", fontsize=7)
    return figure


def confusion_heatmap(analysis: dict[str, Any], top: int = 15) -> Figure:
    """Gold vs predicted type over overlapping spans, for the `top` most frequent gold types and none."""
    labels, matrix = analysis["errors"]["confusion"]["labels"], np.asarray(analysis["errors"]["confusion"]["matrix"])
    order = np.argsort(-matrix[:-1].sum(1), kind="stable")[:top]
    keep = [*order.tolist(), len(labels) - 1]
    sub = matrix[np.ix_(keep, keep)]
    names = [labels[i] for i in keep]
    figure = Figure(figsize=(7.5, 6.5))
    axes = figure.subplots()
    image = axes.imshow(np.log1p(sub), cmap="Blues")
    axes.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    axes.set_yticks(range(len(names)), names, fontsize=7)
    for (i, j), value in np.ndenumerate(sub):
        if value:
            axes.text(j, i, str(value), ha="center", va="center", fontsize=6)
    axes.set_xlabel("predicted type (none = spurious)")
    axes.set_ylabel("gold type (none = missed)")
    axes.set_title(f"Type confusion, {len(order)} most frequent gold types (span counts)")
    figure.colorbar(image, ax=axes, label="log(1 + count)")
    return figure


def confidence_histograms(analysis: dict[str, Any]) -> Figure:
    """Span confidence of true positives, false positives and missed gold spans."""
    hist = analysis["confidence"]["histograms"]
    edges = np.asarray(hist["edges"])
    width = edges[1] - edges[0]
    figure = Figure(figsize=(6, 3.5))
    axes = figure.subplots()
    for key, label, colour in (
        ("tp", "true positives", "#16a34a"),
        ("fp", "false positives", "#dc2626"),
        ("fn", "missed (model's confidence)", "#6b7280"),
    ):
        counts = np.asarray(hist[key], dtype=float)
        share = counts / counts.sum() if counts.sum() else counts
        axes.step(edges[:-1] + width / 2, share, where="mid", label=f"{label} (n={int(counts.sum())})", color=colour)
    axes.set_xlabel(f"span confidence ({analysis['confidence']['span_confidence']} of word max-softmax)")
    axes.set_ylabel("share of spans")
    axes.set_title("Confidence of correct vs wrong spans")
    axes.legend(fontsize=7)
    return figure


def threshold_curves(analysis: dict[str, Any]) -> Figure:
    """Precision, coverage and recall of the spans kept at each confidence threshold."""
    rows = analysis["confidence"]["thresholds"]
    x = [r["threshold"] for r in rows]
    figure = Figure(figsize=(6, 3.5))
    axes = figure.subplots()
    for key, colour in (("precision", "#2563eb"), ("coverage", "#f59e0b"), ("recall", "#16a34a")):
        axes.plot(x, [r[key] for r in rows], marker="o", label=key, color=colour)
    recommended = (analysis.get("readiness") or {}).get("recommended")
    if recommended:
        axes.axvline(recommended["threshold"], color="#6b7280", linestyle="--", label="recommended")
    axes.set_ylim(0, 1.02)
    return titled(figure, axes, "confidence threshold", "share", "What a confidence threshold keeps (test)")


def titled(figure: Figure, axes: Any, xlabel: str, ylabel: str, title: str) -> Figure:
    """Axis labels, title and a small legend: the finish every line chart shares."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=7)
    return figure


def reliability_diagram(analysis: dict[str, Any]) -> Figure:
    """Accuracy against confidence per bin, before and after temperature scaling."""
    conf = analysis["confidence"]
    figure = Figure(figsize=(4.5, 4.5))
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], color="#9ca3af", linestyle=":", label="perfect calibration")
    for key, label, colour in (
        ("reliability", f"raw (ECE {conf['ece_before']:.3f})", "#dc2626"),
        ("reliability_after", f"T={conf['temperature']:.2f} (ECE {conf['ece_after']:.3f})", "#2563eb"),
    ):
        bins = [b for b in conf[key] if b["count"]]
        axes.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label=label, color=colour)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    return titled(
        figure, axes, "mean span confidence in bin", "share of spans correct", "Span-level reliability (test)"
    )


ANALYSIS_FIGURES: dict[str, Callable[[dict[str, Any]], Figure]] = {
    "f1_by_type": f1_by_type,
    "frequency_vs_f1": frequency_vs_f1,
    "confusion_heatmap": confusion_heatmap,
    "confidence_histogram": confidence_histograms,
    "threshold_curves": threshold_curves,
    "reliability_diagram": reliability_diagram,
}


def analysis_figures(analysis: dict[str, Any], folder: Path) -> dict[str, Path]:
    return {name: save(draw(analysis), folder, name) for name, draw in ANALYSIS_FIGURES.items()}


def comparison_f1(comparison: dict[str, Any]) -> Figure:
    """Micro-F1 per run with its bootstrap interval, best first."""
    models = sorted(comparison["models"], key=lambda m: m["micro"]["f1"])
    f1 = np.array([m["micro"]["f1"] for m in models])
    low, high = (np.array([m["micro_f1_ci"][i] for m in models]) for i in (0, 1))
    figure = Figure(figsize=(6.5, 1 + 0.45 * len(models)))
    axes = figure.subplots()
    axes.barh(
        [m["run"] for m in models],
        f1,
        xerr=[np.clip(f1 - low, 0, None), np.clip(high - f1, 0, None)],
        capsize=4,
        color="#60a5fa",
    )
    axes.set_xlim(0, 1)
    axes.set_xlabel("test micro-F1 (strict), 95% bootstrap interval")
    axes.set_title("Models compared on the same test documents")
    axes.tick_params(axis="y", labelsize=7)
    return figure


def comparison_figures(comparison: dict[str, Any], folder: Path) -> dict[str, Path]:
    return {"f1_by_model": save(comparison_f1(comparison), folder, "f1_by_model")}
