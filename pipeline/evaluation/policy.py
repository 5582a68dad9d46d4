"""The deployment policy (`<run>/policy.json`): which predicted spans are coded automatically, chosen on validation.

A span is coded automatically when its confidence is at or above the threshold of its entity type, and goes to
a coder otherwise: `span_decision`, the one rule that `predict` applies and `evaluate_policy` measures.

A type's threshold is the lowest of `settings.thresholds` at which its validation spans at or above it reach
the precision target, counted over at least `settings.min_support` such spans. A type with fewer validation
predictions than that in all has too little evidence of its own: the low-support types share one threshold,
chosen by the same rule on their pooled spans (pooled over the low-support types only: the precision of the
frequent types says nothing about theirs). A type that reaches the target at no threshold, and every
low-support type when their pool reaches it at none, is always reviewed: these are the high-risk types.

policy.json (`pipeline.core.layout.PolicyRecord`):

    run, model, chosen_on "validation", span_confidence "min"|"mean"
    settings      {target_precision, min_support, thresholds [t], seconds_per_span, notes}
    types         {T: {threshold t | null (always review), source "type"|"pooled", reason, validation {load}}}
    pooled        {types [T], predicted, threshold t | null, auto_coded, precision, reason}
    always_review [T]
    validation    {documents, load of all types together}

A load (`review_load`), for the spans of one part: predicted, auto_coded, reviewed, automation_rate
(auto_coded / predicted), precision (of the auto-coded spans), auto_errors (auto-coded spans that are wrong),
review_spans (reviewed spans per document of the part, times `settings.notes`) and coder_hours (those spans
at `settings.seconds_per_span`). A rate with nothing to divide by is None.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from pipeline.config import POLICY_THRESHOLDS, AnalysisConfig
from pipeline.core.errors import ConfigError
from pipeline.evaluation.confidence import ScoredSpans

AUTO, REVIEW = "auto", "review"
EPSILON = 1e-9  # 18 of 20 right is 0.9 whatever the float rounding of 18 / 20
WHOSE = {
    "type": "its type's threshold",
    "pooled": "the pooled threshold of low-support types",
    "global": "the --threshold",
}


class PolicyMismatch(RuntimeError):
    """The policy's own numbers disagree with the rule `predict` applies: a bug, never bad input."""


@dataclass(frozen=True)
class PolicySettings:
    """What the policy is chosen with (saved in policy.json, so its numbers can be recomputed)."""

    target_precision: float = 0.90
    min_support: int = 20
    thresholds: tuple[float, ...] = POLICY_THRESHOLDS
    seconds_per_span: float = 30.0
    notes: int = 10000

    @classmethod
    def of(cls, config: AnalysisConfig) -> PolicySettings:
        return cls(
            config.target_precision,
            config.policy_min_support,
            tuple(sorted(config.policy_thresholds)),
            config.review_seconds_per_span,
            config.review_notes,
        )

    def check(self) -> None:
        if not 0 < self.target_precision <= 1:
            raise ConfigError(f"--target-precision must be in (0, 1], got {self.target_precision}")
        if self.min_support < 1:
            raise ConfigError(f"--policy-min-support must be at least 1, got {self.min_support}")
        if not self.thresholds or not all(0 <= t <= 1 for t in self.thresholds):
            raise ConfigError(f"--policy-thresholds must be values in [0, 1], got {list(self.thresholds)}")
        if self.seconds_per_span <= 0 or self.notes < 1:
            raise ConfigError(
                f"--review-seconds-per-span and --review-notes must be positive, got {self.seconds_per_span} "
                f"and {self.notes}"
            )


def span_decision(policy: Mapping[str, Any], span_type: str, confidence: float) -> tuple[str, str]:
    """("auto" | "review", why) for one predicted span. A policy's `default` entry serves types it does not
    list (`global_threshold_policy`, `review_all_policy`)."""
    entry = policy["types"].get(span_type) or policy.get("default")
    if entry is None:
        return REVIEW, f"type {span_type} not in the policy"
    threshold, source = entry["threshold"], entry["source"]
    if threshold is None:
        return REVIEW, "no deployment policy for this run" if source == "none" else "always-review type"
    tail = " (policy not applied)" if source == "global" else ""
    if confidence >= threshold:
        return AUTO, f"at or above {WHOSE[source]} {threshold:g}{tail}"
    return REVIEW, f"below {WHOSE[source]} {threshold:g}{tail}"


def global_threshold_policy(threshold: float) -> dict[str, Any]:
    """One threshold for every type (`predict --threshold`), in place of the run's policy."""
    return {"types": {}, "default": {"threshold": threshold, "source": "global"}}


def review_all_policy() -> dict[str, Any]:
    """What `predict` applies to a run without policy.json: every span to review."""
    return {"types": {}, "default": {"threshold": None, "source": "none"}}


def review_load(auto: np.ndarray, correct: np.ndarray, documents: int, settings: Mapping[str, Any]) -> dict[str, Any]:
    """What auto-coding `auto` (a mask over predicted spans) buys and costs on a part of `documents` documents."""
    predicted, auto_coded = len(auto), int(auto.sum())
    right, reviewed = int((auto & correct).sum()), predicted - auto_coded
    spans = reviewed / documents * settings["notes"] if documents else None
    return {
        "predicted": predicted,
        "auto_coded": auto_coded,
        "reviewed": reviewed,
        "automation_rate": auto_coded / predicted if predicted else None,
        "precision": right / auto_coded if auto_coded else None,
        "auto_errors": auto_coded - right,
        "review_spans": spans,
        "coder_hours": spans * settings["seconds_per_span"] / 3600 if spans is not None else None,
    }


def evaluate_policy(policy: Mapping[str, Any], spans: ScoredSpans, documents: int) -> dict[str, Any]:
    """The policy applied span by span (`span_decision`) to one part's predictions: the load of all types
    together and per type (every type of the policy, and any other type predicted)."""
    decisions = (span_decision(policy, t, float(c))[0] == AUTO for t, c in zip(spans.types, spans.confidence))
    auto = np.fromiter(decisions, dtype=bool, count=len(spans.types))
    span_types = np.array(spans.types, dtype=object)
    settings = policy["settings"]
    return {
        "documents": documents,
        **review_load(auto, spans.correct, documents, settings),
        "per_type": {
            name: review_load(auto[span_types == name], spans.correct[span_types == name], documents, settings)
            for name in sorted(set(policy["types"]) | set(spans.types))
        },
    }


def threshold_choice(
    confidence: np.ndarray, correct: np.ndarray, settings: PolicySettings
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the lowest threshold whose spans at or above it number at least `min_support` and reach the target, or
    None; the most precise threshold with that support, or None: what the reason quotes when none reaches it)."""
    rows = []
    for threshold in sorted(settings.thresholds):
        kept = confidence >= threshold
        auto_coded, right = int(kept.sum()), int((kept & correct).sum())
        if auto_coded >= settings.min_support:
            rows.append({"threshold": float(threshold), "auto_coded": auto_coded, "precision": right / auto_coded})
    meeting = [row for row in rows if row["precision"] >= settings.target_precision - EPSILON]
    best = max(rows, key=lambda row: (row["precision"], -row["threshold"]), default=None)
    return (meeting[0] if meeting else None), best


def choice_reason(
    chosen: dict[str, Any] | None, best: dict[str, Any] | None, predicted: int, settings: PolicySettings
) -> str:
    """Why a type (or the pool of `predicted` spans) gets its threshold, or none."""
    target = f"validation precision {settings.target_precision:.2f} on at least {settings.min_support} spans"
    if chosen:
        return (
            f"the lowest threshold reaching {target}: {chosen['precision']:.3f} on {chosen['auto_coded']} of "
            f"{predicted} spans at {chosen['threshold']:g}"
        )
    if best:
        return (
            f"no threshold reaches {target} (the most precise: {best['precision']:.3f} on {best['auto_coded']} of "
            f"{predicted} spans at {best['threshold']:g}): always reviewed"
        )
    return (
        f"no threshold reaches {target}: fewer than {settings.min_support} of its {predicted} spans lie at or above "
        f"even the lowest threshold, {min(settings.thresholds):g}: always reviewed"
    )


def choose_policy(
    validation: ScoredSpans, types: Sequence[str], documents: int, settings: PolicySettings
) -> dict[str, Any]:
    """The policy for `types` (and any other type predicted) from the validation spans of `documents` documents,
    with its validation estimate; checked against `evaluate_policy`, the rule `predict` applies."""
    settings.check()
    span_types = np.array(validation.types, dtype=object)
    counts = Counter(validation.types)
    names = sorted(set(types) | set(counts))
    low = [name for name in names if counts[name] < settings.min_support]
    chosen: dict[str, dict[str, Any] | None] = {}
    entries: dict[str, dict[str, Any]] = {}
    for name in names:
        if name not in low:
            mask = span_types == name
            chosen[name], best = threshold_choice(validation.confidence[mask], validation.correct[mask], settings)
            row = chosen[name]
            entries[name] = {
                "threshold": row["threshold"] if row else None,
                "source": "type",
                "reason": choice_reason(row, best, counts[name], settings),
            }
    pool = np.array([name in low for name in validation.types], dtype=bool)
    pool_row, pool_best = threshold_choice(validation.confidence[pool], validation.correct[pool], settings)
    pooled = {
        "types": low,
        "predicted": int(pool.sum()),
        "threshold": pool_row["threshold"] if pool_row else None,
        "auto_coded": pool_row["auto_coded"] if pool_row else 0,
        "precision": pool_row["precision"] if pool_row else None,
        "reason": choice_reason(pool_row, pool_best, int(pool.sum()), settings),
    }
    shared = (
        f"their pooled threshold, {pooled['threshold']:g}"
        if pooled["threshold"] is not None
        else "their pool reaches the target at no threshold: always reviewed"
    )
    for name in low:
        entries[name] = {
            "threshold": pooled["threshold"],
            "source": "pooled",
            "reason": (
                f"{counts[name]} validation predictions, fewer than {settings.min_support}: pooled with the {len(low)} "
                f"low-support types, {shared}"
            ),
        }
    policy: dict[str, Any] = {
        "settings": asdict(settings),
        "types": {name: entries[name] for name in names},
        "pooled": pooled,
        "always_review": [name for name in names if entries[name]["threshold"] is None],
    }
    estimate = evaluate_policy(policy, validation, documents)
    check_estimate(chosen, pooled, estimate)
    for name in names:
        policy["types"][name]["validation"] = estimate["per_type"][name]
    policy["validation"] = {key: value for key, value in estimate.items() if key != "per_type"}
    return policy


def check_estimate(
    chosen: Mapping[str, dict[str, Any] | None], pooled: Mapping[str, Any], estimate: Mapping[str, Any]
) -> None:
    """Stop when the spans the rule auto-codes on validation are not those the choice counted, per type and for
    the pool: the policy would promise a precision that `predict` does not deliver."""
    per_type = estimate["per_type"]
    for name, row in chosen.items():
        measured = (per_type[name]["auto_coded"], per_type[name]["precision"])
        counted = (row["auto_coded"], row["precision"]) if row else (0, None)
        if measured != counted:
            raise PolicyMismatch(
                f"{name}: the choice counted {counted} auto-coded spans and precision, the rule {measured}"
            )
    pooled_auto = sum(per_type[name]["auto_coded"] for name in pooled["types"])
    if pooled_auto != pooled["auto_coded"]:
        raise PolicyMismatch(
            f"pooled types: the choice counted {pooled['auto_coded']} auto-coded, the rule {pooled_auto}"
        )
