"""What every table of the report shares: the HTML a notebook shows, the format of a cell, the table in
place of a section that was not measured yet, and the reading of an analysis.json section.

`table_html` marks tables `sortable` (the HTML site sorts them by a click on a header; the PDF
shows them static).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.reporting.inputs import RunInputs


class Table:
    """A DataFrame that notebooks display as an HTML table (sortable) with an id and a caption."""

    def __init__(self, frame: pd.DataFrame, table_id: str, caption: str = "", sortable: bool = True) -> None:
        self.frame, self.table_id, self.caption, self.sortable = frame, table_id, caption, sortable

    def _repr_html_(self) -> str:
        return table_html(self.frame, self.table_id, self.caption, self.sortable)


def table_html(frame: pd.DataFrame, table_id: str, caption: str = "", sortable: bool = True) -> str:
    body = frame.to_html(
        index=False,
        table_id=table_id,
        classes=["sortable"] if sortable else [],
        border=0,
        float_format=number,
        na_rep="–",
    )
    title = f"<p><strong>{html.escape(caption)}</strong></p>" if caption else ""
    return title + body


def number(value: float) -> str:
    """Scores and rates with three decimals, larger quantities (minutes, docs/s) with one."""
    return f"{value:.3f}" if abs(value) <= 1 else f"{value:.1f}"


def nan_if_none(value: float | None) -> float:
    """Not measured as NaN, so a column with no value at all still prints its placeholder."""
    return float("nan") if value is None else value


def with_interval(value: float | None, bounds: Sequence[float] | None) -> str:
    """'0.612 [0.581, 0.640]'; the value alone when no interval was measured."""
    if value is None:
        return "–"
    if not bounds:
        return f"{value:.3f}"
    return f"{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"


def not_measured(what: str, command: str) -> pd.DataFrame:
    """The table a page shows in place of a section whose JSON does not exist yet."""
    return pd.DataFrame([{"not measured": what, "to add it, run": command}])


def analysis_section(run: RunInputs, key: str) -> Any:
    return (run.analysis or {}).get(key)


def records_table(records: Sequence[dict[str, Any]] | None, what: str, run: RunInputs) -> pd.DataFrame:
    """A list of flat JSON records as a table (their keys are the columns)."""
    if not records:
        return not_measured(what, f"python -m pipeline analyze --run {run.name}")
    return pd.DataFrame([{k: v for k, v in record.items() if not isinstance(v, (list, dict))} for record in records])
