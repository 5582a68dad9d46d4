"""Figures only the report draws, and PNG embedding of every figure a report page shows.

The analysis and comparison figures come from `pipeline.evaluation.figures` (drawn from the same JSON);
this module adds the data page's figure and turns Figures and saved PNGs into notebook images.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from pipeline.core.layout import RunFolder
from pipeline.evaluation.figures import OTHER, TIER_COLOURS, comparison_f1
from pipeline.reporting.inputs import RunInputs

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
