"""bench's rows and headline: one row per subject and batch size from its timing rounds, the ratios best
with best, the cost of `notes` notes, CPU beside GPU, and the subject chosen on validation with the
verdict on the speed target."""

from __future__ import annotations

import statistics
from typing import Any

from pipeline.config import BenchConfig
from pipeline.serving.bench_pool import Subject
from pipeline.serving.bench_stats import best_batch, percentile, round_ratios, rounded, spread
from pipeline.serving.bench_variants import NUMBER_FORMAT


def subject_rows(
    subject: Subject,
    facts: dict[str, Any],
    seconds: dict[int, list[float]],
    latency: list[list[float]],
    reference_seconds: dict[int, list[float]] | None,
    peak: dict[str, float | None],
) -> list[dict[str, Any]]:
    """One row per batch size from a subject's per-round times (and the reference block before each)."""
    rows = []
    documents = facts["documents"]
    for batch, times in sorted(seconds.items()):
        middle = statistics.median(times)
        row: dict[str, Any] = {
            "label": subject.label,
            "variant": subject.variant,
            "max_length": facts.get("max_length"),
            "overlap": facts.get("overlap"),
            "device": subject.device,
            "batch_size": batch,
            "docs_per_second": documents / middle,
            "docs_per_second_min": documents / max(times),
            "docs_per_second_max": documents / min(times),
            "words_per_second": facts["words"] / middle,
            "wordpieces_per_second": facts["wordpieces_read"] / middle if "wordpieces_read" in facts else None,
            "latency_ms_median": None,
            "latency_ms_p95": None,
            "positions_per_wordpiece": (
                round(facts["positions"] / facts["wordpieces_read"], 3) if "positions" in facts else None
            ),
            "gflops_per_second": facts["flops"] / middle / 1e9 if "flops" in facts else None,
            "peak_share": None,
            "ratio_to_reference": None,
        }
        if batch == 1 and latency:
            per_doc = [statistics.median(doc) for doc in zip(*latency)]  # each document's median over rounds
            row.update(latency_ms_median=statistics.median(per_doc), latency_ms_p95=percentile(per_doc, 95))
        number_format = NUMBER_FORMAT.get(subject.variant, "fp32")
        if row["gflops_per_second"] is not None and peak.get(number_format):
            row["peak_share"] = round(row["gflops_per_second"] / peak[number_format], 3)
        if reference_seconds and batch in reference_seconds:
            row["ratio_to_reference"] = rounded(spread(round_ratios(times, reference_seconds[batch])))
        rows.append(row)
    return rows


def best_with_best(
    seconds: dict[int, list[float]], reference_seconds: dict[int, list[float]]
) -> dict[str, float | int]:
    """Per-round ratio of the subject at its best batch size to the reference at its own best."""
    mine, theirs = best_batch(seconds), best_batch(reference_seconds)
    return {
        **spread(round_ratios(seconds[mine], reference_seconds[theirs])),
        "batch_size": mine,
        "reference_batch_size": theirs,
    }


def estimates(rows: list[dict[str, Any]], mean_words: float, config: BenchConfig) -> list[dict[str, Any]]:
    """Hours and cost of `config.notes` notes of the measured mean length, at each subject's best batch size."""
    result = []
    for label in dict.fromkeys(row["label"] for row in rows):
        best = max((r for r in rows if r["label"] == label), key=lambda r: r["words_per_second"])
        hours = config.notes * mean_words / best["words_per_second"] / 3600
        price = config.gpu_price_per_hour if best["device"].startswith("cuda") else config.cpu_price_per_hour
        result.append(
            {
                "variant": label,
                "device": best["device"],
                "batch_size": best["batch_size"],
                "notes": config.notes,
                "hours": round(hours, 3),
                "price_per_hour": price,
                "cost": round(hours * price, 4),
            }
        )
    return result


def cpu_vs_gpu(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Batch-1 latency of each CPU subject beside the fastest GPU subject's; None without GPU rows."""
    gpu = [r for r in rows if r["device"].startswith("cuda") and r["latency_ms_median"] is not None]
    if not gpu:
        return None
    fastest = min(gpu, key=lambda r: r["latency_ms_median"])
    return [
        {
            "variant": r["label"],
            "gpu_variant": fastest["label"],
            "cpu_latency_ms": r["latency_ms_median"],
            "gpu_latency_ms": fastest["latency_ms_median"],
            "slowdown": round(r["latency_ms_median"] / fastest["latency_ms_median"], 2),
        }
        for r in rows
        if r["device"] == "cpu" and r["latency_ms_median"] is not None
    ]


def choose_subject(rows: list[dict[str, Any]], base_f1: float, tolerance: float) -> dict[str, Any]:
    """The fastest row (best batch size) whose validation F1 is within `tolerance` points of `base_f1`."""
    kept = [r for r in rows if (r.get("validation_micro_f1") or 0.0) >= base_f1 - tolerance / 100 - 1e-9]
    return max(kept or rows, key=lambda r: r["docs_per_second"])


def summarise(
    rows: list[dict[str, Any]],
    reference: dict[str, Any] | None,
    ratios: dict[str, dict[str, Any]],
    config: BenchConfig,
    served: str | None = None,
) -> dict[str, Any]:
    """The headline: the subject chosen on validation (or `served`, the label of the subject predict runs
    whatever bench finds: a combined run's), its ratios (median, min-max over rounds) and the verdict on
    the target (on test F1, reported once). `ratios`: {label: {"best": ..., "batch_1": ...}}."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["label"] not in best or row["docs_per_second"] > best[row["label"]]["docs_per_second"]:
            best[row["label"]] = row
    base = best.get("fp32") or next(iter(best.values()))
    if served:
        chosen = best[served]
    else:
        chosen = choose_subject(list(best.values()), base.get("validation_micro_f1") or 0.0, config.f1_tolerance)
    fastest = max(best.values(), key=lambda r: r["docs_per_second"])
    test_f1 = {label: row["test_micro_f1"] for label, row in best.items()}
    summary: dict[str, Any] = {
        "variant": base["label"],
        "docs_per_second": base["docs_per_second"],
        "fastest_variant": fastest["label"],
        "fastest_docs_per_second": fastest["docs_per_second"],
        "chosen": {key: chosen[key] for key in ("label", "variant", "max_length", "overlap", "batch_size", "device")},
        "ratio_variant": chosen["label"],
        "test_micro_f1": test_f1,
        "target_ratio": config.target_ratio,
        "target_min_ratio": config.target_min_ratio,
        "reference_docs_per_second": None,
        "best_ratio_to_reference": None,
        "ratio_best": None,
        "ratio_batch_1": None,
        "f1_kept": None,
        "target_met": None,
        "cpu_vs_gpu": cpu_vs_gpu(rows),
    }
    if reference and chosen["label"] in ratios:
        # "equal F1" on test: no more than f1_tolerance points below fp32 nor below the reference
        floor = max(reference["test_micro_f1"], base["test_micro_f1"]) - config.f1_tolerance / 100
        kept = chosen["test_micro_f1"] >= floor - 1e-9
        ratio = ratios[chosen["label"]]
        summary.update(
            reference_docs_per_second=reference["docs_per_second"],
            best_ratio_to_reference=round(ratio["best"]["median"], 2),
            ratio_best=rounded(ratio["best"]),
            ratio_batch_1=rounded(ratio["batch_1"]) if ratio.get("batch_1") else None,
            f1_kept=kept,
            target_met=kept
            and ratio["best"]["median"] >= config.target_ratio
            and ratio["best"]["min"] >= config.target_min_ratio,
        )
    return summary


def student_record(
    subject: Subject,
    rows: list[dict[str, Any]],
    seconds: dict[int, list[float]],
    chosen_seconds: dict[int, list[float]],
    reference_seconds: dict[int, list[float]] | None,
    base_validation_f1: float,
    config: BenchConfig,
) -> dict[str, Any]:
    """A lighter run timed beside this one: its rows, its validation F1 against this run's fp32 (the set the
    choice is made on), and its speed over this run's chosen subject and over the reference, each round
    by round at each side's best batch size."""
    best = max(rows, key=lambda row: row["docs_per_second"])
    points = 100 * ((best["validation_micro_f1"] or 0.0) - base_validation_f1)
    over_reference = best_with_best(seconds, reference_seconds) if reference_seconds else None
    return {
        "run": subject.student,
        "label": subject.label,
        "variant": subject.variant,
        "max_length": best["max_length"],
        "overlap": best["overlap"],
        "batch_size": best["batch_size"],
        "docs_per_second": best["docs_per_second"],
        "validation_micro_f1": best["validation_micro_f1"],
        "test_micro_f1": best["test_micro_f1"],
        "validation_points": round(points, 2),
        "within_tolerance": points >= -config.student_tolerance - 1e-9,
        "ratio_to_chosen": rounded(best_with_best(seconds, chosen_seconds)),
        "ratio_to_reference": rounded(over_reference) if over_reference else None,
        "target_met": bool(
            over_reference
            and over_reference["median"] >= config.target_ratio
            and over_reference["min"] >= config.target_min_ratio
        ),
        "rows": rows,
    }


def lighter_choice(students: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The student bench names instead of this run's own choice: the fastest whose validation F1 stays within
    the tolerance and that is faster than the chosen subject in the median round; None when none is."""
    kept = [s for s in students if s["within_tolerance"] and s["ratio_to_chosen"]["median"] > 1.0]
    if not kept:
        return None
    best = max(kept, key=lambda s: s["docs_per_second"])
    return {key: value for key, value in best.items() if key != "rows"}
