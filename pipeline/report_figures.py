"""Figures only the report draws, and PNG embedding of every figure a report page shows.

The analysis and comparison figures come from `pipeline.figures` (drawn from the same JSON);
this module adds the data page's figure and turns Figures and saved PNGs into notebook images.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from pipeline.figures import OTHER, TIER_COLOURS, comparison_f1
from pipeline.report_inputs import RunInputs


def png(figure: Figure) -> Any:
    """The figure as an IPython PNG image: embedded in the notebook whatever the kernel's backend."""
    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return Image(data=buffer.getvalue(), format="png")


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
    from IPython.display import Image

    relative = ((run.analysis or {}).get("figures") or {}).get(name)
    path = run.folder / "analysis" / relative if relative else None
    if path is None or not Path(path).exists():
        return missing(f"The figure {name}", f"python -m pipeline analyze --run {run.name}")
    return Image(filename=str(path))


def mentions_by_tier(frame: pd.DataFrame) -> Figure:
    """Training mentions per type on a log scale, coloured by tier: where the tier thresholds cut."""
    ordered = frame.sort_values("train", ascending=False)
    figure = Figure(figsize=(8, 3.5))
    axes = figure.subplots()
    axes.bar(ordered["type"], ordered["train"].clip(lower=1),
             color=[TIER_COLOURS.get(tier, OTHER) for tier in ordered["tier"]])
    axes.set_yscale("log")
    axes.set_ylabel("training mentions")
    axes.tick_params(axis="x", labelrotation=90, labelsize=6)
    return figure
