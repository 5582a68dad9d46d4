"""`python -m pipeline analyze --run RUN`: everything worth knowing about one run's test predictions.

Writes `<run>/analysis/analysis.json`, `<run>/analysis/figures/<name>.{png,svg}` and the deployment policy,
chosen on validation, `<run>/policy.json` (`pipeline.evaluation.policy`). Schema of analysis.json (all
scores strict, entity-level; "spans" are word offsets, end exclusive):

    run, model, part ("test"), documents, config {AnalysisConfig values}
    scores      {micro {precision, recall, f1}, macro {...}, weighted {...},
                 per_type {T: {precision, recall, f1, support, predicted}},
                 intervals {micro_f1 [lo, hi], macro_f1 [lo, hi], per_type_f1 {T: [lo, hi]},
                            resamples, seed, level}}
    tiers       {tier: {types [T], precision, recall, f1, support, predicted, ci [lo, hi]}}
    frequency_scatter [{type, train_mentions, f1, support, tier}]
    errors      {counts {category: n}, shares {error category: share of all errors}, errors_total, gold_spans,
                 exact_match_rate, partial_match_rate, confusion {labels [T..., "none"], matrix [[n]] gold x pred},
                 top_confusions [{gold, predicted, count, share}],
                 by_length [{length "1"|"2"|"3-4"|"5+", support, predicted, precision, recall, f1}],
                 boundary_by_length {buckets [{length, gold, boundary_errors, rate, ci [lo, hi] (Wilson 95%)}],
                                     trend {z, p_value, buckets} (Cochran-Armitage) | null,
                                     difference {longer, shorter, difference, ci [lo, hi] (Newcombe)} | null}}
                 categories: exact, type_confusion, boundary_under, boundary_over, boundary_shifted,
                 boundary_and_type, missed, spurious (see pipeline.evaluation.taxonomy)
    examples    [{category, doc_id, window_start, words [w], gold_spans [{start, end, type}],
                  pred_spans [{start, end, type}], error {gold span|null, pred span|null}}]
                 (span offsets relative to `words`)
    patterns    [{pattern, gold_with, missed_with, miss_rate_with, error_rate_with, gold_without, ...}]
    confidence  {span_confidence "min"|"mean", mean {tp, fp, fn}, counts {tp, fp, fn},
                 histograms {edges [21], tp [20], fp [20], fn [20]},
                 thresholds [{threshold, kept, precision, coverage, recall}],
                 reliability [{low, high, count, confidence, accuracy}], reliability_after [...],
                 ece_before, ece_after, temperature, temperature_fitted_on "validation"}
    readiness   {thresholds [{threshold, auto_coded, reviewed, precision, coverage, automation_rate, review_rate,
                              documents_auto_coded, document_automation_rate, document_precision}],
                 recommended {threshold, rule, target_precision, met, validation {row}, test {row}},
                 high_value {T: {f1, precision, recall, support, threshold, precision_at_threshold,
                                 coverage_at_threshold}},
                 fp_rate_by_type [{type, predicted, false_positives, fp_rate, high_value}] (test)}
    policy      the deployment policy of <run>/policy.json (chosen on validation) applied to test:
                {part "test", documents, predicted, auto_coded, reviewed, automation_rate, precision, auto_errors,
                 review_spans, coder_hours, per_type {T: {the same from predicted on}}} (see pipeline.evaluation.policy)
    figures     {name: path relative to the analysis folder (PNG; an SVG lies next to it)}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipeline.config import AnalysisConfig
from pipeline.core.layout import RunFolder, read_predictions, read_run_config, write_record
from pipeline.core.scoring import strict_counts
from pipeline.core.tags import entity_types_of
from pipeline.data.tiers import TIERS
from pipeline.evaluation import confidence, figures, metrics, policy, readiness, taxonomy


def load_part(run_dir: Path, part: str, tag_set: set[str] | None) -> list[dict[str, Any]]:
    records = read_predictions(run_dir, part)
    metrics.validate_predictions(records, tag_set, f"{run_dir.name}/predictions/{part}.jsonl")
    return records


def run_types(config: dict[str, Any], records: Sequence[dict[str, Any]]) -> list[str]:
    """The run's entity types: its tag set, else the data summary's types, else those seen."""
    if config.get("tag2id"):
        return entity_types_of(config["tag2id"])
    if config.get("types"):
        return sorted(config["types"])
    return metrics.document_counts(records).types


def tier_scores(
    counts: metrics.Counts, type_info: dict[str, dict[str, Any]], resamples: int, seed: int
) -> dict[str, Any]:
    """Micro scores of each tier on the spans of that tier's types (never by masking tokens)."""
    result = {}
    for tier in TIERS:
        members = [t for t in counts.types if type_info.get(t, {}).get("tier") == tier]
        if not members:
            continue
        part = counts.restrict(members)
        scores = metrics.scores_from_counts(part)
        result[tier] = {
            "types": members,
            **scores["micro"],
            "support": int(part.tp.sum() + part.fn.sum()),
            "predicted": int(part.tp.sum() + part.fp.sum()),
            "ci": metrics.bootstrap_intervals(part, resamples, seed)["micro_f1"],
        }
    return result


def frequency_scatter(per_type: dict[str, Any], type_info: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """(training mentions, test F1) per type with test support: the data of the frequency figure."""
    return [
        {
            "type": t,
            "train_mentions": type_info.get(t, {}).get("train_mentions"),
            "f1": s["f1"],
            "support": s["support"],
            "tier": type_info.get(t, {}).get("tier"),
        }
        for t, s in sorted(per_type.items())
        if s["support"] > 0
    ]


def check_invariants(counts: metrics.Counts, errors: dict[str, Any], records: Sequence[dict[str, Any]]) -> None:
    """Stop the analysis when its counts disagree with seqeval's strict entities: the per-document
    counts behind every interval, and the error taxonomy (exact-match rate = strict recall)."""
    seqeval = strict_counts([r["gold"] for r in records], [r["pred"] for r in records])
    ours = (int(counts.tp.sum()), int(counts.fp.sum()), int(counts.fn.sum()))
    if ours != seqeval:
        raise taxonomy.TaxonomyMismatch(f"per-document counts (TP, FP, FN) = {ours}, seqeval strict = {seqeval}")
    tp, _, fn = seqeval
    taxonomy.check_against_seqeval(errors, seqeval, tp / (tp + fn) if tp + fn else 0.0)


def analyze_records(
    test: Sequence[dict[str, Any]],
    validation: Sequence[dict[str, Any]],
    types: Sequence[str],
    type_info: dict[str, dict[str, Any]],
    config: AnalysisConfig,
    chosen_policy: dict[str, Any],
) -> dict[str, Any]:
    """Every section of analysis.json except run identity and figures; `chosen_policy` is applied to test."""
    counts = metrics.document_counts(test, types)
    scores = {
        **metrics.scores_from_counts(counts),
        "intervals": metrics.bootstrap_intervals(counts, config.resamples, config.seed),
    }
    matches = taxonomy.match_records(test)
    errors = taxonomy.error_analysis(matches, types)
    check_invariants(counts, errors, test)
    train_mentions = {name: info.get("train_mentions", 0) for name, info in type_info.items()}
    high_value, high_value_chosen = readiness.choose_high_value_types(config.high_value_types, types, train_mentions)
    test_spans = confidence.scored_spans(test, config.span_confidence)
    validation_spans = confidence.scored_spans(validation, config.span_confidence)
    return {
        "documents": len(test),
        "scores": scores,
        "tiers": tier_scores(counts, type_info, config.resamples, config.seed),
        "frequency_scatter": frequency_scatter(scores["per_type"], type_info),
        "errors": errors,
        "examples": taxonomy.sample_examples(matches, test, config.examples, config.context_words, config.seed),
        "patterns": taxonomy.pattern_report(matches, test),
        "confidence": confidence.confidence_analysis(test, validation, config.thresholds, config.span_confidence),
        "readiness": readiness.readiness_analysis(
            test_spans,
            validation_spans,
            scores["per_type"],
            config.thresholds,
            config.target_precision,
            high_value,
            config.high_value_threshold,
            high_value_chosen,
        ),
        "policy": {"part": config.part, **policy.evaluate_policy(chosen_policy, test_spans, len(test))},
    }


def analyze_run(run_dir: str | Path, config: AnalysisConfig | None = None) -> Path:
    """Analyse a run's predictions and choose its deployment policy on validation; returns the path of
    analysis.json (policy.json is written first, so an analysed run always has its policy)."""
    config = config or AnalysisConfig()
    run_dir = Path(run_dir)
    run_config = read_run_config(run_dir)
    tag_set = set(run_config["tag2id"]) if run_config.get("tag2id") else None
    test = load_part(run_dir, config.part, tag_set)
    validation = load_part(run_dir, config.calibration_part, tag_set)
    types = run_types(run_config, test)
    identity = {"run": run_config.get("run", run_dir.name), "model": run_config.get("model")}
    chosen = policy.choose_policy(
        confidence.scored_spans(validation, config.span_confidence),
        types,
        len(validation),
        policy.PolicySettings.of(config),
    )
    analysis = {
        **identity,
        "part": config.part,
        "config": asdict(config),
        **analyze_records(test, validation, types, run_config.get("types", {}), config, chosen),
    }
    write_record(
        RunFolder(run_dir).policy,
        "policy",
        {**identity, "chosen_on": config.calibration_part, "span_confidence": config.span_confidence, **chosen},
    )
    folder = RunFolder(run_dir).analysis_dir
    analysis["figures"] = figures.analysis_figures(analysis, folder / "figures") if config.figures else {}
    analysis["figures"] = {name: str(Path(path).relative_to(folder)) for name, path in analysis["figures"].items()}
    return write_record(RunFolder(run_dir).analysis, "analysis", analysis)
