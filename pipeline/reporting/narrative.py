"""Sentences of the report, computed from measured numbers (never typed into a notebook).

Each function takes plain numbers or small records and returns one sentence, so a reader can
check every claim of the report against the JSON it came from. Significance is the bootstrap
probability that one model beats another, P(X>Y); 0.95 or more counts as credible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CREDIBLE = 0.95


@dataclass(frozen=True)
class ModelFacts:
    """What model selection weighs: micro-F1 of one part with its interval, speed and rare-tier F1.
    Choices read the validation part; the test part is reported for what was chosen."""

    name: str
    f1: float
    f1_low: float | None = None
    f1_high: float | None = None
    docs_per_second: float | None = None
    rare_f1: float | None = None
    part: str = "validation"


def points(delta: float) -> str:
    """An F1 difference in percentage points, signed: +2.1."""
    return f"{100 * delta:+.1f}"


def percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def interval(facts: ModelFacts) -> str:
    if facts.f1_low is None or facts.f1_high is None:
        return f"{facts.f1:.3f}"
    return f"{facts.f1:.3f} [{facts.f1_low:.3f}, {facts.f1_high:.3f}]"


def significance(first: str, second: str, p_first_better: float) -> str:
    """'P(X>Y)=0.97, credible'."""
    verdict = "credible" if p_first_better >= CREDIBLE else "not credible"
    return f"P({first}>{second})={p_first_better:.2f}, {verdict}"


def tradeoff_sentence(first: ModelFacts, second: ModelFacts, p_first_better: float | None) -> str:
    """'X has +2.1 points validation F1 but is 1.5 times slower than Y (P(X>Y)=0.97, credible).'"""
    gain = f"{first.name} has {points(first.f1 - second.f1)} points {first.part} F1"
    tail = "" if p_first_better is None else f" ({significance(first.name, second.name, p_first_better)})"
    if not first.docs_per_second or not second.docs_per_second:
        return f"{gain} over {second.name}{tail}; speed was not measured for both."
    ratio = second.docs_per_second / first.docs_per_second
    if ratio >= 1:
        speed, joint = f"{ratio:.1f} times slower", "but" if first.f1 >= second.f1 else "and"
    else:
        speed, joint = f"{1 / ratio:.1f} times faster", "and" if first.f1 >= second.f1 else "but"
    return f"{gain} {joint} is {speed} than {second.name}{tail}."


def choose_model(models: Sequence[ModelFacts], p_better: dict[tuple[str, str], float]) -> tuple[ModelFacts, str]:
    """The recommended model and the rule that chose it.

    Rule: take the model with the highest F1 on the part the facts come from (validation: a choice
    made on test would make the test number optimistic); every model it does not credibly beat
    (P(top>other) < 0.95) is as good on F1, and among those the fastest wins. Without speed for
    all of them, the highest F1 wins.
    """
    if not models:
        raise ValueError("no model to choose from: the comparison holds no runs")
    top = max(models, key=lambda m: m.f1)
    tied = [m for m in models if m is top or p_better.get((top.name, m.name), 1.0) < CREDIBLE]
    speeds_known = all(m.docs_per_second for m in tied)
    best = max(tied, key=lambda m: m.docs_per_second or 0.0) if len(tied) > 1 and speeds_known else top
    others = ", ".join(m.name for m in tied if m is not top)
    f1 = f"{top.part} micro-F1"
    if len(models) == 1:
        reason = f"{best.name} is the only model compared; its {f1} is {interval(best)}."
    elif best is top and len(tied) == 1:
        reason = (
            f"{best.name} has the highest {f1}, {interval(best)}, and credibly beats every other "
            f"model (P(better) ≥ {CREDIBLE})."
        )
    elif best is top and speeds_known:
        reason = (
            f"{best.name} has the highest {f1}, {interval(best)}; it does not credibly beat "
            f"{others}, but it is also the fastest of them."
        )
    elif best is top:
        reason = (
            f"{best.name} has the highest {f1}, {interval(best)}; it does not credibly beat "
            f"{others}, and without the speed of all of them the highest F1 decides."
        )
    else:
        reason = (
            f"{best.name} is the fastest model whose F1, {interval(best)}, is not credibly below the best "
            f"({top.name}, {top.f1:.3f}, P({top.name}>{best.name})={p_better.get((top.name, best.name), 0):.2f})."
        )
    if best.rare_f1 is not None:
        reason += f" Its rare-tier F1 on test is {best.rare_f1:.3f}."
    return best, reason


def test_estimate_sentence(chosen: ModelFacts) -> str:
    """The chosen model's test score: reported once, after the choice, as the unbiased estimate."""
    return (
        f"On the test set, held out from every choice, {chosen.name} scores micro-F1 {interval(chosen)}: "
        "the final, unbiased estimate."
    )


def tier_gap_sentence(tier_f1: dict[str, float], model: str) -> str:
    """'For minilm, rare entity types have 15.0 points lower F1 than frequent ones (0.420 vs 0.570).'"""
    if "rare" not in tier_f1 or "frequent" not in tier_f1:
        return f"For {model}, the rare-versus-frequent comparison needs both tiers in the test set."
    rare, frequent = tier_f1["rare"], tier_f1["frequent"]
    direction = "lower" if rare < frequent else "higher"
    return (
        f"For {model}, rare entity types have {abs(100 * (rare - frequent)):.1f} points {direction} F1 than "
        f"frequent ones ({rare:.3f} vs {frequent:.3f})."
    )


def confusion_sentence(gold: str, predicted: str, share: float, model: str) -> str:
    """'For minilm, Medication entities are predicted as Disease_disorder 8% of the time.'"""
    return f"For {model}, {gold} entities are predicted as {predicted} {percent(share)} of the time."


def threshold_sentence(threshold: float, precision: float, coverage: float, rule: str) -> str:
    """'Use a 0.85 confidence threshold for 90% precision and 73% coverage (rule: ...).'"""
    return (
        f"Use a {threshold:.2f} confidence threshold for {percent(precision)} precision and "
        f"{percent(coverage)} coverage (rule: {rule})."
    )


def automation_sentence(threshold: float, automated: float) -> str:
    return (
        f"At a {threshold:.2f} threshold, {percent(automated)} of predicted entities are coded "
        f"automatically and {percent(1 - automated)} go to human review."
    )


def document_automation_sentence(threshold: float, auto_coded: int, rate: float) -> str:
    """Whole documents: auto-coded only when every entity in them clears the threshold."""
    if auto_coded == 0:
        return (
            f"No document can be coded without review at {threshold:.2f}: every one holds at least one entity "
            "below the threshold, so automation works entity by entity, with a coder checking the flagged ones."
        )
    documents = "document" if auto_coded == 1 else "documents"
    return (
        f"{percent(rate)} of documents ({auto_coded} {documents}) have every entity at or above {threshold:.2f} "
        "and could be coded without review."
    )


def speed_target_sentence(
    variant: str,
    ratio: float,
    target: float,
    f1_kept: bool,
    reference_docs_per_second: float,
    reference_f1: float,
    truncated: int,
    documents: int,
    tolerance: float,
    reads_every_word: bool = True,
) -> str:
    """The speed target against the plain transformers pipeline, and the documents that pipeline cut short."""
    bound = f"{tolerance:g} F1 points of fp32 and of the plain transformers pipeline"
    reach = (
        f"reads {ratio:.2f} times the pipeline's documents per second ({reference_docs_per_second:.1f} documents/s, "
        f"F1 {reference_f1:.3f})"
    )
    met = f1_kept and ratio >= target
    sentence = (
        f"The fastest variant within {bound}, {variant}, {reach}"
        if f1_kept
        else f"No variant stays within {bound}; the fastest, {variant}, {reach}"
    )
    sentence += f": the {target:g}x target is {'met' if met else 'not met'}."
    if truncated:
        sentence += (
            f" The pipeline reads at most 512 wordpieces, so it cut {truncated} of {documents} documents short; "
            + (
                "every variant here reads every word."
                if reads_every_word
                else "so does this run, which reads only the first window of each document."
            )
        )
    return sentence


def leak_sentence(leak: dict[str, Any] | None) -> str:
    """The measured leak of the plan's row split (leak.json), or what produces it."""
    if leak is None:
        return (
            "The leak of a row split was not measured: `python -m pipeline all` measures it when the data is a "
            "brat folder without a split of its own (its leak-* stages)."
        )
    rows, document, inflation = leak["rows"], leak["document"], leak["inflation"]
    return (
        f"On the Hugging Face set rebuilt from the brat copy (every document twice), the plan's row split puts a "
        f"copy of {rows['leaked_rows']} of its {rows['test_rows']} test rows ({percent(rows['leaked_share'])}) in "
        f"training. With the same recipe, {leak['model']} scores test micro-F1 {ranged(rows['micro_f1'], rows['micro_f1_ci'])} "
        f"on that split against {ranged(document['micro_f1'], document['micro_f1_ci'])} on our document split: the "
        f"row split inflates F1 by {inflation['points']:+.1f} points (95% interval {inflation['ci'][0]:+.1f} to "
        f"{inflation['ci'][1]:+.1f}). {leak['note']}"
    )


def ranged(value: float, bounds: Sequence[float]) -> str:
    return f"{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"


def truncation_sentence(window_f1: float, truncate_f1: float, model: str, lost_share: float | None = None) -> str:
    """The cost of the common 512-wordpiece cut against sliding windows over whole documents."""
    lost = "" if lost_share is None else f"; the cut drops {percent(lost_share)} of the test entities"
    return (
        f"Cutting documents at 512 wordpieces gives {model} F1 {truncate_f1:.3f} against {window_f1:.3f} with "
        f"sliding windows ({points(truncate_f1 - window_f1)} points{lost})."
    )


def tradeoff_sentences(
    best: ModelFacts, models: Sequence[ModelFacts], p_better: dict[tuple[str, str], float]
) -> list[str]:
    """The recommended model against each other model."""
    others = [other for other in models if other.name != best.name]
    if not others:
        return [f"{best.name} is the only model compared: there is no trade-off to weigh."]
    return [tradeoff_sentence(best, other, p_better.get((best.name, other.name))) for other in others]


def truncation_paragraph(pairs: Sequence[tuple[str, float, float]]) -> str:
    if not pairs:
        return "No model was trained both with sliding windows and with the 512-wordpiece cut."
    return " ".join(truncation_sentence(window, truncate, model) for model, window, truncate in pairs)
