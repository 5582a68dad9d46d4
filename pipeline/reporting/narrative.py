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


CRITERION_NAMES = {"f1": "F1", "speed": "speed", "rare": "rare-tier F1", "memory": "memory"}


def weights_text(weights: dict[str, float]) -> str:
    """'F1 0.4, speed 0.3, rare-tier F1 0.2, memory 0.1' (criteria weighing 0 are left out)."""
    return ", ".join(f"{CRITERION_NAMES[name]} {weight:g}" for name, weight in weights.items() if weight > 0)


def matrix_note(normalisation: str, weights: dict[str, float]) -> str:
    """How the decision matrix scores: the normalisation and the weights, with the flag that changes them;
    a sensitivity view of the choice, not the rule that makes it."""
    return (
        f"A sensitivity view, not the rule: scores are {normalisation}; the total is the weighted mean of the "
        f"scores. Weights: {weights_text(weights)} (set them with `python -m pipeline compare --criteria-weights "
        "f1=..,speed=..,rare=..,memory=..`)."
    )


def joined(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def requirement_text(requirement: dict[str, Any]) -> str:
    """One requirement of comparison.json's selection, in words with its limit."""
    name, limit = requirement["name"], requirement["limit"]
    if name == "throughput":
        return (
            f"at least {limit:.3f} documents/s ({requirement['notes']:,} notes within {requirement['hours']:g} hours "
            "on the machine that ran bench, with the variant bench chose)"
        )
    if name == "memory":
        return f"peak inference memory of that variant at most {limit:,.0f} MB"
    return f"validation micro precision at least {limit:.2f}"


def requirements_sentence(requirements: Sequence[dict[str, Any]]) -> str:
    """The deployment requirements a model must meet to be chosen, and the flags that state them."""
    flags = (
        "`python -m pipeline compare --throughput-notes N --throughput-hours H --max-memory-mb MB --min-precision P`"
        ", 0 turning one off"
    )
    if not requirements:
        return f"No deployment requirement is stated ({flags}): every candidate is eligible."
    return f"Requirements: {joined([requirement_text(r) for r in requirements])} (stated with {flags})."


def rule_sentence(rule: str, credible: float) -> str:
    """The selection rule as comparison.json states it, with its credible level; test never enters."""
    return (
        f"Rule: {rule}; credible means P(better) of at least {credible:.2f}. Test numbers never enter the choice: "
        "they are reported once, for the chosen model."
    )


def speed_text(facts: ModelFacts) -> str:
    return "not benchmarked" if facts.docs_per_second is None else f"{facts.docs_per_second:.1f} documents/s"


def versus_text(leader: str, other: ModelFacts, p_better: float | None) -> str:
    """'minilm (0.600, P(combined>minilm)=0.80)', or that the two were not paired."""
    if p_better is None:
        return f"{other.name} ({other.f1:.3f}, no paired test: their validation documents differ)"
    return f"{other.name} ({other.f1:.3f}, P({leader}>{other.name})={p_better:.2f})"


def choice_sentence(
    chosen: str,
    basis: str,
    leader: ModelFacts,
    others: Sequence[tuple[ModelFacts, float | None, bool]],
    credible: float,
) -> str:
    """Why `chosen` was chosen: it meets every requirement, then accuracy on validation and its credibility.
    `leader` is the eligible candidate with the highest validation F1; `others` each other eligible one with
    P(leader better) on validation (None: not paired) and whether that lead is credible; `basis` is
    comparison.json's selection.basis."""
    best = f"the highest validation micro-F1 of the candidates that meet every requirement, {interval(leader)}"
    if basis == "only_eligible":
        return (
            f"{chosen} is chosen: it is the only candidate that meets every requirement (validation micro-F1 "
            f"{interval(leader)})."
        )
    if basis == "credibly_most_accurate":
        above = joined([versus_text(chosen, other, p) for other, p, _ in others])
        return (
            f"{chosen} is chosen: it has {best}, credibly above {above} on validation (credible from {credible:.2f})."
        )
    tied = [(other, p) for other, p, credibly in others if not credibly]
    within = f"{joined([versus_text(leader.name, o, p) for o, p in tied])} at the {credible:.2f} level on validation"
    rest = [other for other, _ in tied if other.name != chosen]
    if chosen == leader.name:
        slower = joined([f"{o.name} {speed_text(o)}" for o in rest])
        return (
            f"{chosen} is chosen: it has {best}, not credibly above {within}, and none of them is faster "
            f"({speed_text(leader)} against {slower})."
        )
    winner = next(other for other, _ in tied if other.name == chosen)
    slower = joined([f"{o.name} {speed_text(o)}" for o in [leader, *rest]])
    cheaper = "cheaper" if len(tied) == 1 else "fastest of them"
    return (
        f"{chosen} is chosen: {leader.name} has {best}, but it is not credibly above {within}, so the {cheaper} "
        f"wins: {chosen} reads {speed_text(winner)} against {slower}."
    )


def failure_text(check: dict[str, Any]) -> str:
    """One requirement a candidate fails, with its value and the limit (comparison.json selection.failed)."""
    name, value, limit = check["requirement"], check["value"], check["limit"]
    if value is None:
        return f"{name} not measured by its bench"
    if name == "throughput":
        return f"throughput {value:.3f} documents/s, under the {limit:.3f} required"
    if name == "memory":
        return f"peak inference memory {value:,.0f} MB, over the {limit:,.0f} MB allowed"
    return f"validation micro precision {value:.3f}, under the {limit:.2f} required"


def failures_sentence(failures: Sequence[tuple[str, str, Sequence[dict[str, Any]]]]) -> str:
    """The candidates that fail a requirement: (label, run, failed checks) each, a run without a benchmark
    named as such with the command that measures it; empty when every candidate meets every requirement."""
    items = []
    for label, run, checks in failures:
        unbenched = [check["requirement"] for check in checks if check["note"] == "not benchmarked"]
        texts = [failure_text(check) for check in checks if check["note"] != "not benchmarked"]
        if unbenched:
            texts.insert(
                0,
                f"not benchmarked, so it cannot show it meets the {joined(unbenched)} "
                f"requirement{'s' if len(unbenched) > 1 else ''}: `python -m pipeline bench --run {run}` measures them",
            )
        items.append(f"{label} ({'; '.join(texts)})")
    return f"Not eligible: {'; '.join(items)}." if items else ""


def sensitivity_sentence(chosen: str, weightings: Sequence[tuple[str, str, bool]]) -> str:
    """Which weightings of the decision matrix would choose another model than the requirements did:
    (weighting, its winner, whether that winner meets every requirement) each, the stated weights first."""
    changed = [
        f"{name} would choose {winner}" + ("" if meets else " (which fails a requirement)")
        for name, winner, meets in weightings
        if winner != chosen
    ]
    same = [name for name, winner, _ in weightings if winner == chosen]
    if not changed:
        return (
            f"Sensitivity: every weighting of the decision matrix tried ({joined(same)}) also chooses {chosen}: the "
            "choice does not hang on how the criteria are weighed."
        )
    sentence = f"Sensitivity: the choice differs from the weighted decision matrix's where {joined(changed)}"
    return sentence + (f"; {joined(same)} choose{'s' if len(same) == 1 else ''} {chosen} too." if same else ".")


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
    ratio_range: tuple[float, float, int, float] | None = None,
) -> str:
    """The speed target against the plain transformers pipeline, and the documents that pipeline cut short.
    `ratio_range`: (min, max, rounds, lowest allowed) of the ratio over interleaved rounds, when measured so."""
    bound = f"{tolerance:g} F1 points of fp32 and of the plain transformers pipeline"
    reach = (
        f"reads {ratio:.2f} times the pipeline's documents per second ({reference_docs_per_second:.1f} documents/s, "
        f"F1 {reference_f1:.3f})"
    )
    target_text, met = f"{target:g}x target", f1_kept and ratio >= target
    if ratio_range:
        low, high, rounds, floor = ratio_range
        reach += f", from {low:.2f} to {high:.2f} times over {rounds} interleaved rounds"
        target_text += f" (no round under {floor:g}x)"
        met = met and low >= floor
    sentence = (
        f"The fastest variant within {bound}, {variant}, {reach}"
        if f1_kept
        else f"No variant stays within {bound}; the fastest, {variant}, {reach}"
    )
    sentence += f": the {target_text} is {'met' if met else 'not met'}."
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


def part_speed_sentence(part: dict[str, Any], rounds: int) -> str:
    """What the CRF part costs a combined model: its speed over its transformer part's alone, timed in the
    same interleaved rounds (bench.json `transformer_part`)."""
    ratio = part["ratio"]
    return (
        f"Timed in the same rounds as its transformer part alone ({part['run']}, {part['combined_label']}), the "
        f"combined model reads {ratio['median']:.2f} times its documents per second (from {ratio['min']:.2f} to "
        f"{ratio['max']:.2f} over {rounds} interleaved rounds, each at its best batch size): the target of at least "
        f"{part['target_ratio']:g}x is {'met' if part['target_met'] else 'not met'}."
    )


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


def listed(items: Sequence[str], shown: int = 5) -> str:
    """'A, B and C'; past `shown` items, 'A, B, C, D, E and 3 more'."""
    if len(items) <= shown:
        return joined(list(items))
    return f"{', '.join(items[:shown])} and {len(items) - shown} more"


def policy_sentence(model: str, types: int, own: int, pooled: int, always: Sequence[str]) -> str:
    """What the deployment policy auto-codes (types with a threshold of their own, low-support types at the
    pooled one) and which types it always sends to a coder."""
    ways = [f"{own} at a threshold of {'its' if own == 1 else 'their'} own"] if own else []
    ways += [f"{pooled} low-support types at one pooled threshold"] if pooled else []
    coded = (
        f"codes the spans of {own + pooled} of its {types} entity types automatically when their confidence reaches "
        f"the type's threshold ({joined(ways)})"
        if ways
        else f"codes none of its {types} entity types automatically"
    )
    kind = "type" if len(always) == 1 else "types"
    reviewed = (
        f"always sends {listed(always)} to a coder (the {len(always)} {kind} reaching the precision target at no "
        "threshold)"
        if always
        else "always reviews no type"
    )
    return f"The deployment policy of {model}, chosen on validation, {coded}, and {reviewed}."


def automation_text(load: dict[str, Any]) -> str:
    """'64% at precision 0.931': a policy's share of spans auto-coded on one part and their precision."""
    if not load.get("auto_coded"):
        return "0%"
    return f"{percent(load['automation_rate'])} at precision {load['precision']:.3f}"


def policy_test_sentence(test: dict[str, Any], validation: dict[str, Any], notes: int, seconds_per_span: float) -> str:
    """What the policy buys on test (share auto-coded, precision of the auto-coded spans, the review load), beside
    the validation estimate it was chosen with."""
    if not test.get("predicted"):
        return "On test the model predicts no entity, so the policy has nothing to code."
    return (
        f"On test it codes {percent(test['automation_rate'])} of the predicted entities automatically"
        + (f", at precision {test['precision']:.3f}" if test["auto_coded"] else "")
        + f" (validation estimate: {automation_text(validation)}), and leaves {test['review_spans']:,.0f} spans to "
        f"review for {notes:,} notes: about {test['coder_hours']:,.0f} coder hours at {seconds_per_span:g} s a span."
    )


def policy_rule_sentence(
    target: float,
    min_support: int,
    thresholds: Sequence[float],
    low_support_types: int,
    pooled_threshold: float | None,
    notes: int,
    seconds_per_span: float,
) -> str:
    """The rule the deployment policy was chosen by, with its settings and the review-load assumptions."""
    pooled = (
        f"share the threshold chosen the same way on their pooled predictions ({pooled_threshold:g})"
        if pooled_threshold is not None
        else "would share a threshold chosen the same way on their pooled predictions, but none reaches the target: "
        "they are always reviewed"
    )
    low = (
        f"the {low_support_types} types with fewer than {min_support} validation predictions {pooled}"
        if low_support_types
        else f"every type has at least {min_support} validation predictions"
    )
    return (
        f"Each entity type's threshold is the lowest of {', '.join(f'{t:g}' for t in thresholds)} at which at least "
        f"{min_support} of its validation predictions lie at or above it with precision {target:.2f} or more; {low}; "
        "a type reaching the target at no threshold is always reviewed. Unlike one threshold for every type, which "
        "can reach the target on average while some types fall short of it, every type auto-coded reaches it on its "
        "own (on validation; the test column shows how far that holds). `predict` applies this policy by default. "
        f"Review load: the spans sent to a coder per note, for {notes:,} notes, at {seconds_per_span:g} s a span."
    )


def no_speed_sentence(model: str, docs_per_second: float | None = None, memory_mb: float | None = None) -> str:
    """The speed verdict of a model the transformers pipeline cannot be set against (a CRF reads words, the
    pipeline is a transformer): its own measured speed when `bench` timed it, else the command."""
    if docs_per_second is None:
        return f"{model} was not benchmarked: run `python -m pipeline bench --run {model}` for its speed."
    memory = f" in {memory_mb:.0f} MB" if memory_mb is not None else ""
    return (
        f"{model} reads {docs_per_second:.1f} documents/s on this machine{memory}; the transformers pipeline is "
        "a transformer and has no counterpart for it, so no ratio is given."
    )


def limits_sentence(untrained: Sequence[str], trained: dict[str, tuple[str, float]]) -> str:
    """What this build did not do: the registered models it did not train, and what it trained, on which device,
    in how long."""
    runs = joined([f"{name} ({device}, {seconds / 60:.0f} min)" for name, (device, seconds) in trained.items()])
    sentence = f"This build trained {runs}."
    if untrained:
        cpu = " on CPU" if all(device == "CPU" for device, _ in trained.values()) else ""
        sentence += (
            f" The registered {joined(list(untrained))} were not trained here: they load from the Hugging Face hub "
            f"and the gpu profile (`--profile gpu`) trains them, while this build ran offline{cpu} with the MiniLM "
            "that ships as a Python package; their rows of the plan's comparison are still open."
        )
    return sentence


SIGNIFICANT = 0.05  # two-sided p of the trend test below which a trend counts as shown


def length_hypothesis_sentence(model: str, boundary: dict[str, Any] | None) -> str:
    """Whether the data supports the plan's "longer entities get more boundary errors" (Task 1.5.3):
    the Cochran-Armitage trend over the length buckets decides (p < 0.05, in either direction), the
    longest-minus-shortest difference with its interval is the size of the effect."""
    if not boundary or not boundary.get("trend") or not boundary.get("difference"):
        return (
            f"For {model}, the boundary errors by length were not measured on two length buckets with errors: "
            "the hypothesis that longer entities get more boundary errors cannot be tested."
        )
    trend, difference = boundary["trend"], boundary["difference"]
    rates = {row["length"]: row for row in boundary["buckets"]}
    short, long = rates[difference["shorter"]], rates[difference["longer"]]
    low, high = difference["ci"]
    if trend["p_value"] < SIGNIFICANT:
        verdict = (
            "supports the hypothesis that longer entities get more boundary errors"
            if trend["z"] > 0
            else "contradicts the hypothesis that longer entities get more boundary errors: shorter ones get more"
        )
    else:
        verdict = "does not support the hypothesis that longer entities get more boundary errors (no credible trend)"
    return (
        f"For {model}, {percent(long['rate'])} of {long['length']}-word gold entities ({long['boundary_errors']} of "
        f"{long['gold']}) get a boundary error against {percent(short['rate'])} of {short['length']}-word ones "
        f"({short['boundary_errors']} of {short['gold']}), a difference of {points(difference['difference'])} points "
        f"(95% interval {points(low)} to {points(high)}); the trend test over the lengths gives z = {trend['z']:.2f}, "
        f"{p_text(trend['p_value'])}: the data {verdict}."
    )


def p_text(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def no_curves_sentence(model: str) -> str:
    """Runs without a per-epoch history (the CRF is fitted in one call): say so instead of an empty figure."""
    return (
        f"{model} records no epochs (its metrics.json `epochs` is empty: it is fitted in one call), so it has no curve."
    )


def cpu_gpu_sentence(cpu_rows: int, device: str, baseline: str = "fp32") -> str:
    """What the CPU-against-GPU table holds, or why there is none."""
    if cpu_rows:
        return (
            f"CPU beside {device}: the slowdown factor of each row is its batch-1 latency over that of {baseline} on "
            f"the GPU ({cpu_rows} CPU row{'s' if cpu_rows > 1 else ''})."
        )
    return (
        f"This benchmark ran on {device} only: the GPU rows (and the CPU-against-GPU slowdown) need a CUDA machine, "
        "where `python -m pipeline bench` measures the CPU variants of the same run as well."
    )
