"""Span-level error analysis (Task 1.5): taxonomy, confusion, length buckets, examples, patterns.

Every gold entity and every predicted entity gets exactly one outcome. Predictions are matched to gold
spans one to one, in document order, as nervaluate does: each prediction (left to right) takes the
leftmost gold span it overlaps that no earlier prediction took. On flat IOB2 a gold span with the
prediction's exact boundaries is the only gold span that prediction overlaps, so it is always the one
taken. A matched pair is
    exact             same boundaries, same type (a strict true positive)
    type_confusion    same boundaries, other type
    boundary_under    same type, prediction strictly inside the gold span ("myocardial" for
                      "myocardial infarction")
    boundary_over     same type, prediction strictly contains the gold span
    boundary_shifted  same type, overlapping, neither contains the other
    boundary_and_type overlapping, other boundaries and other type
and what is left is
    missed            a gold span no prediction took (overlapped or not)
    spurious          a prediction that took no gold span (it overlaps none, or only taken ones)
The awkward cases follow from the rule: one prediction over several gold spans takes the leftmost
and the others are `missed`; one gold span split across several predictions goes to the leftmost
prediction and the others are `spurious`; between a same-type and an other-type overlap the position
decides, not the type (nervaluate's strict, exact and partial modes; its ent_type mode prefers the
same type, so it can pair differently when a prediction overlaps two free gold spans).

So exact = seqeval's strict true positives, pairs that are not exact + spurious = its false positives,
pairs that are not exact + missed = its false negatives, and the exact-match rate is strict recall:
`check_against_seqeval` verifies this on every analysed run.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.core.tags import Span
from pipeline.evaluation.metrics import prf, record_spans, wilson

CATEGORIES = (
    "exact",
    "type_confusion",
    "boundary_under",
    "boundary_over",
    "boundary_shifted",
    "boundary_and_type",
    "missed",
    "spurious",
)
ERROR_CATEGORIES = CATEGORIES[1:]
SAME_TYPE_BOUNDARY = ("boundary_under", "boundary_over", "boundary_shifted")
NONE = "none"
LENGTH_BUCKETS = (("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5+", 5, 10**9))


@dataclass(frozen=True)
class Match:
    """One outcome of the taxonomy: a gold span, a predicted span, or both, and its category."""

    doc_id: str
    category: str
    gold: Span | None
    pred: Span | None


def overlap(a: Span, b: Span) -> int:
    return max(0, min(a.end, b.end) - max(a.start, b.start))


def categorize(gold: Span | None, pred: Span | None) -> str:
    """The taxonomy category of a (gold, predicted) pair; None on one side means missed/spurious."""
    if pred is None:
        return "missed"
    if gold is None:
        return "spurious"
    same_bounds = (gold.start, gold.end) == (pred.start, pred.end)
    if same_bounds:
        return "exact" if gold.type == pred.type else "type_confusion"
    if gold.type != pred.type:
        return "boundary_and_type"
    if gold.start <= pred.start and pred.end <= gold.end:
        return "boundary_under"
    if pred.start <= gold.start and gold.end <= pred.end:
        return "boundary_over"
    return "boundary_shifted"


def match_spans(doc_id: str, gold: Sequence[Span], pred: Sequence[Span]) -> list[Match]:
    """One outcome per predicted span (document order), then one per gold span no prediction took."""
    free = sorted(gold)
    matches = []
    for span in sorted(pred):
        taken = next((g for g in free if overlap(g, span) > 0), None)
        if taken is not None:
            free.remove(taken)
        matches.append(Match(doc_id, categorize(taken, span), taken, span))
    return matches + [Match(doc_id, "missed", g, None) for g in free]


def match_records(records: Sequence[dict[str, Any]]) -> list[Match]:
    return [m for record in records for m in match_spans(str(record["id"]), *record_spans(record))]


def category_counts(matches: Sequence[Match]) -> dict[str, Any]:
    """Counts of every category, shares of each error category among all errors, match rates.

    exact_match_rate: share of gold spans predicted exactly; partial_match_rate: share of gold spans
    overlapped by a prediction of the same type (exact or boundary error)."""
    counts = Counter(m.category for m in matches)
    errors = sum(counts[c] for c in ERROR_CATEGORIES)
    gold_spans = sum(m.gold is not None for m in matches)
    partial = counts["exact"] + sum(counts[c] for c in SAME_TYPE_BOUNDARY)
    return {
        "counts": {c: counts[c] for c in CATEGORIES},
        "shares": {c: counts[c] / errors if errors else 0.0 for c in ERROR_CATEGORIES},
        "errors_total": errors,
        "gold_spans": gold_spans,
        "predicted_spans": sum(m.pred is not None for m in matches),
        "exact_match_rate": counts["exact"] / gold_spans if gold_spans else 0.0,
        "partial_match_rate": partial / gold_spans if gold_spans else 0.0,
    }


class TaxonomyMismatch(RuntimeError):
    """The taxonomy disagrees with seqeval: a bug in the matching, never bad input."""


def check_against_seqeval(counts: dict[str, Any], seqeval: tuple[int, int, int], recall: float) -> None:
    """Raise unless the outcome counts reconcile with seqeval's strict TP/FP/FN and the exact-match rate
    equals strict recall (`analyze` calls this on every run)."""
    tp, fp, fn = seqeval
    c = counts["counts"]
    pairs = sum(c[k] for k in CATEGORIES if k not in ("exact", "missed", "spurious"))
    found = (c["exact"], pairs + c["spurious"], pairs + c["missed"])
    if found != (tp, fp, fn) or abs(counts["exact_match_rate"] - recall) > 1e-9:
        raise TaxonomyMismatch(
            f"taxonomy (exact, mismatched pairs + spurious, mismatched pairs + missed) = {found} and exact-match "
            f"rate {counts['exact_match_rate']:.6f}, but seqeval strict (TP, FP, FN) = {(tp, fp, fn)} and "
            f"recall {recall:.6f}"
        )


def confusion(matches: Sequence[Match], types: Sequence[str]) -> dict[str, Any]:
    """Gold type (rows) x predicted type (columns) over overlapping pairs; `none` for missed/spurious."""
    labels = [*sorted(types), NONE]
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for m in matches:
        gold = m.gold.type if m.gold is not None else NONE
        pred = m.pred.type if m.pred is not None else NONE
        if gold in index and pred in index:
            matrix[index[gold], index[pred]] += 1
    return {"labels": labels, "matrix": matrix.tolist()}


def top_confusions(matrix: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    """The most frequent gold->predicted type swaps; share = of all overlapping pairs with that gold type."""
    labels, values = matrix["labels"], np.asarray(matrix["matrix"])
    rows = []
    for i, gold in enumerate(labels[:-1]):
        overlapping = values[i, :-1].sum()
        for j, pred in enumerate(labels[:-1]):
            if i != j and values[i, j]:
                rows.append(
                    {
                        "gold": gold,
                        "predicted": pred,
                        "count": int(values[i, j]),
                        "share": float(values[i, j] / overlapping),
                    }
                )
    return sorted(rows, key=lambda r: (-r["count"], r["gold"], r["predicted"]))[:limit]


def bucket_of(length: int) -> str:
    return next(name for name, low, high in LENGTH_BUCKETS if low <= length <= high)


def scores_by_length(matches: Sequence[Match]) -> list[dict[str, Any]]:
    """Strict P/R/F1 by entity length in words: recall over gold spans of that length, precision over
    predicted spans of that length (an exact match has one length on both sides)."""
    tp: Counter[str] = Counter()
    pred: Counter[str] = Counter()
    for m in matches:
        if m.pred is not None:
            pred[bucket_of(len(m.pred))] += 1
        if m.category == "exact":
            tp[bucket_of(len(m.pred))] += 1  # type: ignore[arg-type]
    gold = Counter(bucket_of(len(m.gold)) for m in matches if m.gold is not None)
    return [
        {
            "length": name,
            "support": gold[name],
            "predicted": pred[name],
            **prf(tp[name], pred[name] - tp[name], gold[name] - tp[name]),
        }
        for name, _, _ in LENGTH_BUCKETS
    ]


BOUNDARY_ERRORS = (*SAME_TYPE_BOUNDARY, "boundary_and_type")


def boundary_by_length(matches: Sequence[Match]) -> dict[str, Any]:
    """The plan's hypothesis "longer entities get more boundary errors" (Task 1.5.3), tested.

    Per gold-length bucket: the share of gold spans whose prediction has other boundaries (any
    boundary category, with or without a type error) with its 95% Wilson interval; then the
    Cochran-Armitage test for a linear trend of that share over the ordered buckets, and the
    difference between the longest and the shortest bucket with Newcombe's interval (from the two
    Wilson intervals). Buckets without gold spans are reported and left out of the test."""
    gold: Counter[str] = Counter()
    boundary: Counter[str] = Counter()
    for m in matches:
        if m.gold is not None:
            gold[bucket_of(len(m.gold))] += 1
            boundary[bucket_of(len(m.gold))] += m.category in BOUNDARY_ERRORS
    buckets = [
        {
            "length": name,
            "gold": gold[name],
            "boundary_errors": boundary[name],
            "rate": boundary[name] / gold[name] if gold[name] else None,
            "ci": wilson(boundary[name], gold[name]),
        }
        for name, _, _ in LENGTH_BUCKETS
    ]
    present = [b for b in buckets if b["gold"]]
    return {"buckets": buckets, "trend": trend_test(present), "difference": rate_difference(present)}


def trend_test(buckets: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Cochran-Armitage test over the buckets in order (scores 0, 1, 2, ...): z > 0 when the rate rises
    with length; two-sided p from the normal. None with fewer than two buckets or no variation."""
    n = np.array([b["gold"] for b in buckets], dtype=float)
    r = np.array([b["boundary_errors"] for b in buckets], dtype=float)
    if len(n) < 2 or not 0 < r.sum() < n.sum():
        return None
    x = np.arange(len(n), dtype=float)
    p = r.sum() / n.sum()
    centred = x - (n * x).sum() / n.sum()
    z = float((r * centred).sum() / math.sqrt(p * (1 - p) * (n * centred**2).sum()))
    return {"z": z, "p_value": math.erfc(abs(z) / math.sqrt(2)), "buckets": [b["length"] for b in buckets]}


def rate_difference(buckets: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Longest bucket's rate minus the shortest's, with Newcombe's hybrid score interval (95%)."""
    if len(buckets) < 2:
        return None
    short, long = buckets[0], buckets[-1]
    (short_low, short_high), (long_low, long_high) = short["ci"], long["ci"]
    difference = long["rate"] - short["rate"]
    return {
        "longer": long["length"],
        "shorter": short["length"],
        "difference": difference,
        "ci": [
            difference - math.hypot(long["rate"] - long_low, short_high - short["rate"]),
            difference + math.hypot(long_high - long["rate"], short["rate"] - short_low),
        ],
    }


def relative(span: Span, start: int, end: int) -> dict[str, Any] | None:
    """A span as word offsets inside the context [start, end), clipped; None when outside it."""
    if span.end <= start or span.start >= end:
        return None
    return {"start": max(span.start, start) - start, "end": min(span.end, end) - start, "type": span.type}


def sample_examples(
    matches: Sequence[Match], records: Sequence[dict[str, Any]], total: int = 25, context: int = 10, seed: int = 42
) -> list[dict[str, Any]]:
    """About `total` errors drawn with a seed, taking categories in turn (so each category with errors
    is equally represented as far as it can be), each with `context` words either side and all
    gold/predicted spans inside that context."""
    by_doc = {str(r["id"]): r for r in records}
    rng = np.random.default_rng(seed)
    pools = [[m for m in matches if m.category == c] for c in ERROR_CATEGORIES]
    shuffled = [[pool[i] for i in rng.permutation(len(pool))] for pool in pools if pool]
    rounds = (
        pool[depth] for depth in range(max(map(len, shuffled), default=0)) for pool in shuffled if depth < len(pool)
    )
    chosen = [m for _, m in zip(range(total), rounds)]
    examples = []
    for m in chosen:
        record = by_doc[m.doc_id]
        spans = [s for s in (m.gold, m.pred) if s is not None]
        start = max(0, min(s.start for s in spans) - context)
        end = min(len(record["words"]), max(s.end for s in spans) + context)
        gold, pred = record_spans(record)
        examples.append(
            {
                "category": m.category,
                "doc_id": m.doc_id,
                "window_start": start,
                "words": record["words"][start:end],
                "gold_spans": [r for s in gold if (r := relative(s, start, end))],
                "pred_spans": [r for s in pred if (r := relative(s, start, end))],
                "error": {
                    "gold": relative(m.gold, start, end) if m.gold else None,
                    "pred": relative(m.pred, start, end) if m.pred else None,
                },
            }
        )
    return examples


ABBREVIATION = re.compile(r"^[A-Z][A-Z0-9]{1,}[a-z]?$|^[A-Za-z]*[A-Z][A-Za-z]*[A-Z][A-Za-z0-9]*$")
NUMBER = re.compile(r"\d")
UNITS = {
    "mg",
    "g",
    "kg",
    "ml",
    "l",
    "dl",
    "mmhg",
    "mm",
    "cm",
    "m",
    "%",
    "mmol",
    "mmol/l",
    "mg/dl",
    "g/dl",
    "mg/kg",
    "u/l",
    "iu",
    "iu/l",
    "meq/l",
    "µg",
    "mcg",
    "ng/ml",
    "bpm",
    "°c",
    "°f",
    "hours",
    "days",
    "weeks",
    "months",
    "years",
    "min",
    "h",
    "s",
    "×",
}

PATTERNS = {
    "abbreviation_or_all_caps": lambda words: any(ABBREVIATION.match(w) for w in words),
    "number": lambda words: any(NUMBER.search(w) for w in words),
    "unit": lambda words: any(w.lower() in UNITS for w in words),
}


def pattern_report(matches: Sequence[Match], records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each detector: gold spans with/without the pattern and their miss rates (no overlapping
    prediction) and strict error rates (not predicted exactly), so "abbreviations are missed more
    often than other words" is a measured statement."""
    by_doc = {str(r["id"]): r for r in records}
    outcome: dict[tuple[str, Span], str] = {}
    for m in matches:
        if m.gold is not None:
            previous = outcome.get((m.doc_id, m.gold))
            if previous != "exact":
                outcome[(m.doc_id, m.gold)] = m.category
    rows = []
    for name, detect in PATTERNS.items():
        groups: dict[bool, list[str]] = {True: [], False: []}
        for (doc_id, span), category in outcome.items():
            groups[bool(detect(by_doc[doc_id]["words"][span.start : span.end]))].append(category)
        row: dict[str, Any] = {"pattern": name}
        for has, label in ((True, "with"), (False, "without")):
            categories = groups[has]
            n = len(categories)
            row[f"gold_{label}"] = n
            row[f"missed_{label}"] = sum(c == "missed" for c in categories)
            row[f"miss_rate_{label}"] = row[f"missed_{label}"] / n if n else 0.0
            row[f"error_rate_{label}"] = sum(c != "exact" for c in categories) / n if n else 0.0
        rows.append(row)
    return rows


def error_analysis(matches: Sequence[Match], types: Sequence[str], confusions: int = 10) -> dict[str, Any]:
    """The `errors` section of analysis.json (without examples and patterns)."""
    matrix = confusion(matches, types)
    return {
        **category_counts(matches),
        "confusion": matrix,
        "top_confusions": top_confusions(matrix, confusions),
        "by_length": scores_by_length(matches),
        "boundary_by_length": boundary_by_length(matches),
    }
