"""bench.json as plain text for the command line."""

from __future__ import annotations

from typing import Any

from pipeline.core.provenance import machine_name


def format_bench(bench: dict[str, Any]) -> str:
    """The subjects table as plain text, for the command line."""
    lines = [
        f"{'subject':<24} {'batch':>5} {'docs/s':>8} {'range':>13} {'p50 ms':>8} {'MB':>7} {'pos/wp':>6} "
        f"{'GFLOP/s':>7} {'peak%':>5} {'F1':>6} {'x ref (range)':>18}"
    ]
    reference = bench.get("reference")
    for r in bench["variants"] + (reference["rows"] if reference else []):
        ratio = r.get("ratio_to_reference")
        lines.append(
            f"{r['label']:<24} {r['batch_size']:>5} {r['docs_per_second']:>8.2f} "
            f"{r['docs_per_second_min']:>6.2f}-{r['docs_per_second_max']:<6.2f} {fmt(r.get('latency_ms_median'))} "
            f"{r['peak_memory_mb']:>7.0f} {fmt(r.get('positions_per_wordpiece'), 6, 2)} "
            f"{fmt(r.get('gflops_per_second'), 7, 1)} {fmt(100 * r['peak_share'] if r.get('peak_share') else None, 5, 0)} "
            f"{fmt(r.get('test_micro_f1'), 6, 3)} "
            + (f"{ratio['median']:>6.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else "")
        )
    summary = bench["summary"]
    lines.append(f"machine: {machine_name(bench.get('machine'))}, {bench['threads']} threads")
    lines.append(f"peak of this machine: {bench['peak']} (GFLOP/s; GOP/s for int8)")
    if bench.get("gpu_peak"):
        lines.append(f"peak of its GPU: {bench['gpu_peak']}")
    for skip in bench.get("skipped") or []:
        lines.append(f"skipped: {skip['variant']}: {skip['reason']}")
    timing = bench.get("timing")
    if timing:
        lines.append(timing_sentence(timing))
    lines.append(f"chosen on validation: {summary['chosen']}")
    if summary.get("ratio_best"):
        best, one = summary["ratio_best"], summary.get("ratio_batch_1")
        lines.append(
            f"{summary['ratio_variant']} against the reference, best with best: {best['median']:.2f}x "
            f"(range {best['min']:.2f}-{best['max']:.2f} over {bench['config']['rounds']} rounds)"
            + (f"; batch 1 with batch 1: {one['median']:.2f}x ({one['min']:.2f}-{one['max']:.2f})" if one else "")
            + f"; target met: {summary['target_met']}"
        )
    for student in bench.get("students") or []:
        lines.append(student_sentence(student, bench["config"]["student_tolerance"]))
    lighter = summary.get("lighter")
    if bench.get("students"):
        lines.append(
            f"lighter choice: {lighter['label']}: serve it with `predict --run {lighter['run']}`"
            if lighter
            else "lighter choice: none (no student is within the tolerance and faster than the chosen subject)"
        )
    part = bench.get("transformer_part")
    if part:
        ratio = part["ratio"]
        lines.append(
            f"{part['combined_label']} against its transformer part alone ({part['run']}), best with best: "
            f"{ratio['median']:.2f}x (range {ratio['min']:.2f}-{ratio['max']:.2f} over {bench['config']['rounds']} "
            f"rounds); target >= {part['target_ratio']:.2f}x met: {part['target_met']}"
        )
    for e in bench["estimate"]:
        lines.append(
            f"{e['notes']} notes with {e['variant']} (batch {e['batch_size']}, {e['device']}): "
            f"{e['hours']:.2f} h, ${e['cost']:.2f} at ${e['price_per_hour']}/h"
        )
    return "\n".join(lines)


def student_sentence(student: dict[str, Any], tolerance: float) -> str:
    """A student beside this run: its speed over the chosen subject and the reference, and its validation F1."""
    over, reference = student["ratio_to_chosen"], student["ratio_to_reference"]
    sentence = (
        f"student {student['label']}: {student['docs_per_second']:.1f} docs/s at batch {student['batch_size']}, "
        f"{over['median']:.2f}x the chosen subject ({over['min']:.2f}-{over['max']:.2f})"
    )
    if reference:
        sentence += f", {reference['median']:.2f}x the reference ({reference['min']:.2f}-{reference['max']:.2f})"
    within = "within" if student["within_tolerance"] else "outside"
    return sentence + (
        f"; validation F1 {student['validation_micro_f1']:.3f}, {student['validation_points']:+.1f} points against "
        f"this run's fp32: {within} the {tolerance:g}-point tolerance"
    )


def timing_sentence(timing: dict[str, Any]) -> str:
    """How many documents each timed block read, and whether the time budget cut them."""
    sentence = f"timed on {timing['timed_documents']} test documents per block in {timing['rounds']} interleaved rounds"
    if timing["timed_documents"] < timing["sampled_documents"]:
        sentence += (
            f", cut from {timing['sampled_documents']} so that the rounds fit the time budget of "
            f"{timing['time_budget']:g} s (the warm-up put a round of {timing['sampled_documents']} at "
            f"{timing['round_seconds_estimate']:.0f} s)"
        )
    return sentence


def fmt(value: float | None, width: int = 8, digits: int = 1) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else " " * (width - 1) + "-"
