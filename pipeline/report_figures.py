"""Figures of the summary pages (matplotlib, no pyplot): each takes a DataFrame or numbers, returns a Figure.

The per-run figures (confusion, confidence, thresholds, calibration) come from the analysis
stage; these few cover what only the report puts side by side.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from pipeline.narrative import ModelFacts

TIER_COLOURS = {"frequent": "#2563eb", "medium": "#f59e0b", "rare": "#dc2626"}


def png(figure: Figure) -> Any:
    """The figure as an IPython PNG image: embedded in the notebook whatever the kernel's backend."""
    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return Image(data=buffer.getvalue(), format="png")


def f1_by_model(models: Sequence[ModelFacts]) -> Figure:
    """Test micro-F1 per model with its 95% interval as error bars (none when not measured)."""
    names, f1 = [m.name for m in models], [m.f1 for m in models]
    figure = Figure(figsize=(6, 0.8 + 0.45 * len(models)))
    axes = figure.subplots()
    errors = [[m.f1 - m.f1_low if m.f1_low is not None else 0 for m in models],
              [m.f1_high - m.f1 if m.f1_high is not None else 0 for m in models]]
    axes.barh(names, f1, xerr=errors, color="#60a5fa", capsize=4)
    axes.set_xlabel("test micro-F1 (strict), 95% bootstrap interval")
    axes.set_xlim(0, 1)
    axes.invert_yaxis()
    figure.tight_layout()
    return figure


def per_type_f1(frame: pd.DataFrame) -> Figure:
    """F1 per entity type, sorted, coloured by tier (Task 1.4 bar chart)."""
    ordered = frame.sort_values("F1")
    figure = Figure(figsize=(7, 0.8 + 0.22 * len(ordered)))
    axes = figure.subplots()
    axes.barh(ordered["type"], ordered["F1"], color=[TIER_COLOURS.get(t, "#9ca3af") for t in ordered["tier"]])
    axes.set_xlabel("test F1 (strict)")
    axes.set_xlim(0, 1)
    axes.tick_params(axis="y", labelsize=7)
    handles = [Rectangle((0, 0), 1, 1, color=c) for c in TIER_COLOURS.values()]
    axes.legend(handles, list(TIER_COLOURS), title="tier", loc="lower right", fontsize=7)
    figure.tight_layout()
    return figure


def mentions_by_tier(frame: pd.DataFrame) -> Figure:
    """Training mentions per type on a log scale, coloured by tier: where the tier thresholds cut."""
    ordered = frame.sort_values("train", ascending=False)
    figure = Figure(figsize=(8, 3.5))
    axes = figure.subplots()
    axes.bar(ordered["type"], ordered["train"].clip(lower=1), color=[TIER_COLOURS.get(t, "#9ca3af") for t in ordered["tier"]])
    axes.set_yscale("log")
    axes.set_ylabel("training mentions")
    axes.tick_params(axis="x", labelrotation=90, labelsize=6)
    figure.tight_layout()
    return figure
