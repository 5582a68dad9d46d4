"""Figures of the serving layer (matplotlib, no pyplot): the speed of each benchmarked subject."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from pipeline.core.files import atomic_write_bytes
from pipeline.core.provenance import machine_name

REFERENCE_COLOUR, SUBJECT_COLOUR = "#dd8452", "#4c72b0"


def bench_speed(bench: dict[str, Any]) -> Figure:
    """Documents/s per subject and batch size (median over rounds, the range as an error bar), the
    transformers pipeline in its own colour."""
    reference = bench.get("reference")
    rows = (
        bench["variants"] + [{**r, "test_micro_f1": reference["test_micro_f1"]} for r in reference["rows"]]
        if reference
        else bench["variants"]
    )
    labels = [f"{r['label']} b{r['batch_size']}\nF1 {r['test_micro_f1']:.3f}" for r in rows]
    values = [r["docs_per_second"] for r in rows]
    errors = [
        [v - r["docs_per_second_min"] for v, r in zip(values, rows)],
        [r["docs_per_second_max"] - v for v, r in zip(values, rows)],
    ]
    colours = [REFERENCE_COLOUR if r["label"] == "transformers pipeline" else SUBJECT_COLOUR for r in rows]
    figure = Figure(figsize=(max(6, 0.7 * len(rows)), 4))
    axis = figure.subplots()
    axis.bar(range(len(values)), values, yerr=errors, color=colours, capsize=2)
    axis.set_xticks(range(len(values)), labels, fontsize=6)
    axis.set_ylabel("documents per second")
    axis.set_title(
        f"{bench['run']} on {machine_name(bench.get('machine'))}, {bench['threads']} threads, "
        f"{bench['config']['rounds']} rounds"
    )
    figure.tight_layout()
    return figure


def write_bench_figure(bench: dict[str, Any], path: Path) -> Path:
    """`bench_speed` as a PNG at `path`, written atomically."""
    buffer = io.BytesIO()
    bench_speed(bench).savefig(buffer, format="png", dpi=120)
    atomic_write_bytes(path, buffer.getvalue())
    return path
