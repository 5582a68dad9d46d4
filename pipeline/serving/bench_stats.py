"""bench's arithmetic over timing rounds: medians and ranges, per-round speed ratios, the best batch size,
percentiles and the rounding of the records it writes."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and range of per-round values."""
    return {"median": float(statistics.median(values)), "min": float(min(values)), "max": float(max(values))}


def round_ratios(variant_seconds: Sequence[float], reference_seconds: Sequence[float]) -> list[float]:
    """Speed ratio per round (the same documents in each, so docs/s over docs/s = seconds over seconds)."""
    if len(variant_seconds) != len(reference_seconds):
        raise ValueError("a ratio needs one reference time per variant round")
    return [ref / var for var, ref in zip(variant_seconds, reference_seconds)]


def best_batch(seconds: dict[int, list[float]]) -> int:
    """The batch size with the lowest median time over rounds."""
    return min(seconds, key=lambda batch: statistics.median(seconds[batch]))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def length_stats(counts: Sequence[int]) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(counts)), 1),
        "median": float(np.median(counts)),
        "p95": round(percentile(counts, 95), 1),
        "max": int(max(counts)),
    }


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
