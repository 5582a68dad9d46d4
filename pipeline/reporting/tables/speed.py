"""Tables of speed, cost and memory: every benchmarked subject, the inference windows, the cost of the
configured notes, memory beside model size, and CPU against GPU latency (bench.json, metrics.json)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline.evaluation.compare import model_size_mb
from pipeline.reporting import facts
from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.tables.formatting import not_measured

SPEED_COLUMNS = {
    "label": "subject",
    "batch_size": "batch",
    "docs_per_second": "docs/s (median)",
    "docs_per_second_range": "docs/s range",
    "ratio": "x pipeline (median, range)",
    "latency_ms_median": "p50 ms",
    "latency_ms_p95": "p95 ms",
    "peak_memory_mb": "peak MB (own process)",
    "positions_per_wordpiece": "positions / wordpiece",
    "gflops_per_second": "GFLOP/s",
    "peak_share": "share of peak",
    "test_micro_f1": "test F1",
    "validation_micro_f1": "validation F1",
}


def speed_table(run: RunInputs) -> pd.DataFrame:
    """Every subject and batch size of bench.json with the spread over rounds and the efficiency columns;
    the plain transformers pipeline's rows last (its name and word mapping stay in bench.json)."""
    bench = run.bench or {}
    variants = bench.get("variants")
    if not variants:
        return not_measured("inference speed", f"python -m pipeline bench --run {run.name}")
    reference = bench.get("reference") or {}
    students = [row for student in facts.bench_rows(run, "students") for row in student["rows"]]
    rows = [*variants, *students, *(reference.get("rows") or [])]
    if "docs_per_second_min" not in variants[0]:  # a bench.json from before interleaved rounds
        return pd.DataFrame(rows)
    table = []
    for row in rows:
        ratio = row.get("ratio_to_reference")
        entry = {key: row.get(key) for key in SPEED_COLUMNS}
        entry["docs_per_second_range"] = f"{row['docs_per_second_min']:.2f}-{row['docs_per_second_max']:.2f}"
        entry["ratio"] = f"{ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else None
        if row.get("label") == "transformers pipeline":
            entry.update(
                test_micro_f1=reference.get("test_micro_f1"), validation_micro_f1=reference.get("validation_micro_f1")
            )
        table.append(entry)
    return pd.DataFrame(table).rename(columns=SPEED_COLUMNS)


def speed_accuracy_table(runs: Sequence[RunInputs], students: bool = False) -> pd.DataFrame:
    """The speed-accuracy trade of every benchmarked subject (`facts.speed_accuracy`), fastest first."""
    points = facts.speed_accuracy(runs, students)
    if not points:
        return not_measured("speed against accuracy", "python -m pipeline bench --run RUN")
    return pd.DataFrame(
        [
            {
                "run": point["run"],
                "subject": point["subject"],
                "batch": point["batch_size"],
                "docs/s (median)": point["docs_per_second"],
                "validation F1": point["validation_micro_f1"],
                "on the front": "yes" if point["front"] else "",
                "timed on": point["machine"],
            }
            for point in sorted(points, key=lambda p: -p["docs_per_second"])
        ]
    )


def windows_table(run: RunInputs) -> pd.DataFrame:
    """The inference windows bench tried with fp32 on validation and their cost; the chosen one is the
    fewest encoder FLOPs per wordpiece within the F1 tolerance of the run's own windows. Empty for a run
    that reads no windows (a CRF) or was not benchmarked (the speed table says how to measure it)."""
    return pd.DataFrame(
        [
            {
                "windows (length/overlap)": f"{row['max_length']}/{row['overlap']}",
                "the run's own": "yes" if row["run_windows"] else "",
                "validation F1 (fp32)": row["validation_micro_f1"],
                "positions / wordpiece": row["positions_per_wordpiece"],
                "MFLOP / wordpiece": row.get("mflop_per_wordpiece"),  # absent from an older bench.json
                "chosen": "yes" if row["chosen"] else "",
            }
            for row in facts.bench_rows(run, "windows")
        ]
    )


def estimate_table(run: RunInputs) -> pd.DataFrame:
    """Time and cost of coding the configured number of notes with each variant at its best batch size (Task 1.7.3)."""
    rows = facts.bench_rows(run, "estimate")
    if not rows:
        return not_measured("time and cost estimate", f"python -m pipeline bench --run {run.name}")
    return pd.DataFrame(
        [
            {
                "variant": row["variant"],
                "device": row["device"],
                "batch size": row["batch_size"],
                "notes": row["notes"],
                "hours": row["hours"],
                "price per hour": row["price_per_hour"],
                "cost": row["cost"],
            }
            for row in rows
        ]
    )


def memory_table(run: RunInputs) -> pd.DataFrame:
    """Training peak memory and model size on disk beside each variant's inference peak memory (Task 1.7.2);
    values as text, megabytes with one decimal and the parameter count in full."""

    def megabytes(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    parameters = run.metrics.get("parameters")
    rows = [
        {
            "measure": f"training peak memory (MB, {run.metrics.get('peak_memory_kind', 'peak')})",
            "value": megabytes(run.metrics.get("peak_memory_mb")),
        },
        {"measure": "model size on disk (MB)", "value": megabytes(model_size_mb(run.folder))},
        {"measure": "parameters", "value": "–" if parameters is None else f"{int(parameters):,}"},
    ]
    peaks: dict[str, float] = {}
    for row in facts.bench_rows(run, "variants"):
        if row.get("peak_memory_mb") is None:
            continue
        key = f"inference peak memory, {row['variant']} on {row['device']} (MB, largest batch)"
        peaks[key] = max(peaks.get(key, 0.0), row["peak_memory_mb"])
    rows += [{"measure": key, "value": megabytes(value)} for key, value in peaks.items()]
    return pd.DataFrame(rows)


def latency_table(run: RunInputs) -> pd.DataFrame:
    """Batch-1 latency on CPU beside GPU with the slowdown factor; empty without rows of both devices."""
    return pd.DataFrame(facts.latency_rows(run))
