"""Tables of the report: pandas DataFrames built from the pipeline's JSON, shown as HTML.

`table_html` marks tables `sortable` (the HTML site sorts them by a click on a header; the PDF
shows them static). `highlighted_example` colours gold and predicted spans and also brackets
them, so the PDF, which drops colours, still shows every span.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.narrative import ModelFacts


class Table:
    """A DataFrame that notebooks display as an HTML table (sortable) with an id and a caption."""

    def __init__(self, frame: pd.DataFrame, table_id: str, caption: str = "", sortable: bool = True) -> None:
        self.frame, self.table_id, self.caption, self.sortable = frame, table_id, caption, sortable

    def _repr_html_(self) -> str:
        return table_html(self.frame, self.table_id, self.caption, self.sortable)


def table_html(frame: pd.DataFrame, table_id: str, caption: str = "", sortable: bool = True) -> str:
    body = frame.to_html(
        index=False,
        table_id=table_id,
        classes=["sortable"] if sortable else [],
        border=0,
        float_format=number,
        na_rep="–",
    )
    title = f"<p><strong>{html.escape(caption)}</strong></p>" if caption else ""
    return title + body


def number(value: float) -> str:
    """Scores and rates with three decimals, larger quantities (minutes, docs/s) with one."""
    return f"{value:.3f}" if abs(value) <= 1 else f"{value:.1f}"


def nan_if_none(value: float | None) -> float:
    """Not measured as NaN, so a column with no value at all still prints its placeholder."""
    return float("nan") if value is None else value


def with_interval(value: float | None, bounds: Sequence[float] | None) -> str:
    """'0.612 [0.581, 0.640]'; the value alone when no interval was measured."""
    if value is None:
        return "–"
    if not bounds:
        return f"{value:.3f}"
    return f"{value:.3f} [{bounds[0]:.3f}, {bounds[1]:.3f}]"


# --- data page ----------------------------------------------------------------------------------


def types_table(summary: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "type": name,
            "tier": info["tier"],
            "train": info["train_mentions"],
            "validation": info["validation_mentions"],
            "test": info["test_mentions"],
            "all": info["mentions"],
            "kept": "yes" if info["kept"] else "dropped",
        }
        for name, info in summary["types"].items()
    ]
    return pd.DataFrame(rows).sort_values("train", ascending=False)


def tier_table(summary: dict[str, Any]) -> pd.DataFrame:
    frame = types_table(summary)
    grouped = (
        frame.groupby("tier")
        .agg(types=("type", "count"), train_mentions=("train", "sum"), test_mentions=("test", "sum"))
        .reset_index()
    )
    thresholds = summary["tiers"]
    rule = {
        "frequent": f"> {thresholds['frequent_above']}",
        "rare": f"< {thresholds['rare_below']}",
        "medium": f"{thresholds['rare_below']}–{thresholds['frequent_above']}",
    }
    grouped.insert(1, "training mentions", grouped["tier"].map(rule))
    return grouped


def length_table(summary: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {"measure": label, **summary[key]}
        for key, label in (
            ("words_per_document", "words per document"),
            ("wordpieces_per_document", f"wordpieces per document ({summary['tokenizer']})"),
        )
    ]
    return pd.DataFrame(rows)


def corpus_facts(summary: dict[str, Any]) -> pd.DataFrame:
    split = summary["split"]
    facts = [
        ("corpus", summary.get("corpus", "")),
        ("source", summary["source"]),
        ("documents", summary["documents"]),
        ("copies of another document's text (grouped)", summary.get("grouped_copies", 0)),
        (
            "split",
            f"{split['strategy']}: train {split['train']} / validation {split['validation']} / "
            f"test {split['test']} (seed {split['seed']})",
        ),
        (
            "entities kept",
            f"{summary['entities_kept']} of {summary['entities_total']} "
            f"({summary['entities_dropped_share']:.1%} dropped in conversion)",
        ),
        ("documents over 512 wordpieces", summary["documents_over_512_wordpieces"]),
        (
            "a 512-wordpiece cut would lose",
            f"{summary['truncation_lost_entities']} entities ({summary['truncation_lost_entity_share']:.1%})",
        ),
        ("documents skipped", len(summary["errors"])),
    ]
    return pd.DataFrame(facts, columns=["fact", "value"]).astype({"value": str})


def conversion_table(summary: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(sorted(summary["conversion"].items()), columns=["brat annotation / conversion step", "count"])


# --- runs and comparison ------------------------------------------------------------------------


def test_micro(run: RunInputs) -> dict[str, float]:
    return run.metrics["test"]["micro"]


def comparison_matrix(
    runs: Sequence[RunInputs], chosen_on: Sequence[ModelFacts], reported: Sequence[ModelFacts]
) -> pd.DataFrame:
    """Model | validation F1 [CI] (what the choice reads) | test F1 [CI], P, R, macro-F1, rare-tier F1
    (reported) | training time | speed."""
    rows = []
    for run, selection, test in zip(runs, chosen_on, reported):
        micro = test_micro(run)
        rows.append(
            {
                "model": run.label,
                "run": run.name,
                "validation micro-F1 [95% CI] (chooses)": with_interval(selection.f1, bounds_of(selection)),
                "test micro-F1 [95% CI] (reported)": with_interval(micro["f1"], bounds_of(test)),
                "test precision": micro["precision"],
                "test recall": micro["recall"],
                "test macro-F1": run.metrics["test"]["macro"]["f1"],
                "test rare-tier F1": nan_if_none(test.rare_f1),
                "training time (min)": run.metrics.get("train_seconds", float("nan")) / 60,
                "docs/s (inference)": nan_if_none(test.docs_per_second),
            }
        )
    return pd.DataFrame(rows)


def bounds_of(facts: ModelFacts) -> tuple[float, float] | None:
    return (facts.f1_low, facts.f1_high) if facts.f1_low is not None and facts.f1_high is not None else None


def per_type_table(run: RunInputs) -> pd.DataFrame:
    types = run.config.get("types", {})
    rows = [
        {
            "type": name,
            "tier": types.get(name, {}).get("tier", "?"),
            "train mentions": types.get(name, {}).get("train_mentions"),
            "support": scores["support"],
            "precision": scores["precision"],
            "recall": scores["recall"],
            "F1": scores["f1"],
        }
        for name, scores in run.metrics["test"]["per_type"].items()
    ]
    return pd.DataFrame(rows).sort_values("F1", ascending=False)


def best_model_per_type(comparison: dict[str, Any] | None, runs: Sequence[RunInputs]) -> pd.DataFrame:
    """For each entity type, the run with the highest validation F1 (comparison.json best.per_type), with
    that run's test F1 beside it."""
    rows = ((comparison or {}).get("best") or {}).get("per_type")
    if not rows:
        return not_measured("best model per type", "python -m pipeline compare " + " ".join(r.name for r in runs))
    labels = {run.name: run.label for run in runs}
    tiers = {name: info.get("tier") for run in runs for name, info in run.config.get("types", {}).items()}
    return pd.DataFrame(
        [
            {
                "type": row["type"],
                "tier": tiers.get(row["type"]),
                "test support": row["support"],
                "model (chosen on validation)": labels.get(row["run"], row["run"]),
                "validation F1": row["selection_f1"],
                "test F1": row["f1"],
            }
            for row in rows
        ]
    ).sort_values("test F1", ascending=False)


def leak_table(leak: dict[str, Any] | None) -> pd.DataFrame:
    """The two splits of the leak experiment side by side (leak.json)."""
    if leak is None:
        return not_measured("the leak of a row split", "python -m pipeline all --data <brat folder>")
    rows, document = leak["rows"], leak["document"]
    return pd.DataFrame(
        [
            {
                "split": "rows ({train}/{validation}/{test} of the rebuilt set)".format(**rows["parts"]),
                "run": rows["run"],
                "test items": rows["test_rows"],
                "test items with a copy in training": rows["leaked_rows"],
                "test micro-F1 [95% CI]": with_interval(rows["micro_f1"], rows["micro_f1_ci"]),
            },
            {
                "split": "documents (ours)",
                "run": document["run"],
                "test items": document["test_documents"],
                "test items with a copy in training": 0,
                "test micro-F1 [95% CI]": with_interval(document["micro_f1"], document["micro_f1_ci"]),
            },
        ]
    )


def truncation_pairs(runs: Sequence[RunInputs]) -> list[tuple[str, float, float]]:
    """(model, sliding-window F1, truncate F1) for every model trained both ways on the document split."""
    by_mode: dict[tuple[str, str], float] = {}
    for run in runs:
        if run.config.get("split_strategy", "document") == "document" and "train" in run.config:
            by_mode[(run.model, run.long_docs)] = test_micro(run)["f1"]
    return [
        (model, by_mode[(model, "window")], by_mode[(model, "truncate")])
        for model, mode in sorted(by_mode)
        if mode == "truncate" and (model, "window") in by_mode
    ]


# --- error examples -----------------------------------------------------------------------------

GOLD_COLOUR, RIGHT_COLOUR, WRONG_COLOUR = "#bfdbfe", "#bbf7d0", "#fecaca"


def marked_words(words: Sequence[str], spans: Sequence[dict[str, Any]], colour_of) -> str:
    """Words as HTML with each span in a coloured <mark>, bracketed and labelled with its type."""
    starts = {span["start"]: span for span in spans}
    out, index = [], 0
    while index < len(words):
        span = starts.get(index)
        if span is None:
            out.append(html.escape(words[index]))
            index += 1
            continue
        text = html.escape(" ".join(words[span["start"] : span["end"]]))
        out.append(f'<mark style="background:{colour_of(span)}">[{text}]<sub>{html.escape(span["type"])}</sub></mark>')
        index = max(span["end"], index + 1)
    return " ".join(out)


def highlighted_example(
    words: Sequence[str], gold: Sequence[dict[str, Any]], predicted: Sequence[dict[str, Any]], title: str = ""
) -> str:
    """Two lines, gold then predicted; a predicted span matching a gold span exactly is green, else red."""
    exact = {(s["start"], s["end"], s["type"]) for s in gold}
    gold_line = marked_words(words, gold, lambda span: GOLD_COLOUR)
    pred_line = marked_words(
        words,
        predicted,
        lambda span: RIGHT_COLOUR if (span["start"], span["end"], span["type"]) in exact else WRONG_COLOUR,
    )
    heading = f"<p><strong>{html.escape(title)}</strong></p>" if title else ""
    return f'{heading}<p class="example">gold: {gold_line}</p><p class="example">predicted: {pred_line}</p>'


# --- analysis, comparison and benchmark sections ------------------------------------------------


def not_measured(what: str, command: str) -> pd.DataFrame:
    """The table a page shows in place of a section whose JSON does not exist yet."""
    return pd.DataFrame([{"not measured": what, "to add it, run": command}])


def analysis_section(run: RunInputs, key: str) -> Any:
    return (run.analysis or {}).get(key)


def metrics_table(run: RunInputs) -> pd.DataFrame:
    """Micro and macro precision/recall/F1 on test, with the bootstrap interval of F1 when analysed."""
    intervals = (analysis_section(run, "scores") or {}).get("intervals", {}) or {}
    reported: dict[str, Any] = dict(run.metrics["test"])  # metrics.json has no weighted average
    rows = []
    for average in ("micro", "macro", "weighted"):
        scores = (analysis_section(run, "scores") or {}).get(average) or reported.get(average)
        if scores:
            rows.append(
                {
                    "average": average,
                    "precision": scores["precision"],
                    "recall": scores["recall"],
                    "F1 [95% CI]": with_interval(scores["f1"], intervals.get(f"{average}_f1")),
                }
            )
    return pd.DataFrame(rows)


def tier_scores_table(run: RunInputs) -> pd.DataFrame:
    tiers = analysis_section(run, "tiers")
    if not tiers:
        return not_measured("tier scores", f"python -m pipeline analyze --run {run.name}")
    return pd.DataFrame(
        [
            {
                "tier": tier,
                "types": len(values.get("types", [])),
                "support": values.get("support"),
                "precision": values.get("precision"),
                "recall": values.get("recall"),
                "F1 [95% CI]": with_interval(values.get("f1"), values.get("ci")),
            }
            for tier, values in tiers.items()
        ]
    )


def tier_f1_table(runs: Sequence[RunInputs]) -> pd.DataFrame:
    rows = [
        {
            "model": run.label,
            **{tier: values.get("f1") for tier, values in (analysis_section(run, "tiers") or {}).items()},
        }
        for run in runs
    ]
    return pd.DataFrame(rows)


def records_table(records: Sequence[dict[str, Any]] | None, what: str, run: RunInputs) -> pd.DataFrame:
    """A list of flat JSON records as a table (their keys are the columns)."""
    if not records:
        return not_measured(what, f"python -m pipeline analyze --run {run.name}")
    return pd.DataFrame([{k: v for k, v in record.items() if not isinstance(v, (list, dict))} for record in records])


def error_table(run: RunInputs) -> pd.DataFrame:
    errors = analysis_section(run, "errors") or {}
    counts, shares = errors.get("counts") or {}, errors.get("shares") or {}
    return records_table(
        [{"category": name, "count": count, "share of errors": shares.get(name)} for name, count in counts.items()],
        "error taxonomy",
        run,
    )


def confusion_table(run: RunInputs) -> pd.DataFrame:
    return records_table((analysis_section(run, "errors") or {}).get("top_confusions"), "type confusions", run)


def threshold_table(run: RunInputs) -> pd.DataFrame:
    return records_table((analysis_section(run, "confidence") or {}).get("thresholds"), "threshold table", run)


def calibration_table(run: RunInputs) -> pd.DataFrame:
    confidence = analysis_section(run, "confidence") or {}
    if not confidence:
        return not_measured("calibration", f"python -m pipeline analyze --run {run.name}")
    means = confidence.get("mean") or {}
    facts = [
        ("mean confidence of true positives", means.get("tp")),
        ("mean confidence of false positives", means.get("fp")),
        ("mean confidence of missed entities (FN)", means.get("fn")),
        ("expected calibration error (ECE), raw", confidence.get("ece_before")),
        ("fitted temperature", confidence.get("temperature")),
        ("ECE after temperature scaling", confidence.get("ece_after")),
    ]
    return pd.DataFrame([{"measure": name, "value": value} for name, value in facts if value is not None])


def readiness_table(run: RunInputs) -> pd.DataFrame:
    return records_table((analysis_section(run, "readiness") or {}).get("thresholds"), "production simulation", run)


def high_risk_table(run: RunInputs) -> pd.DataFrame:
    """False-positive rate by predicted type on test; the types chosen on validation as high-risk marked."""
    readiness = analysis_section(run, "readiness") or {}
    table = records_table(readiness.get("fp_rate_by_type"), "false-positive rates", run)
    if "type" in table:
        chosen = {row["type"] for row in readiness["high_risk"]["types"]}
        table["high-risk (validation)"] = table["type"].isin(chosen)
    return table


def high_value_table(run: RunInputs) -> pd.DataFrame:
    """F1 on test of each high-value type, and precision and coverage of its spans at the reported threshold."""
    scores = (analysis_section(run, "readiness") or {}).get("high_value")
    return records_table([{"type": name, **row} for name, row in (scores or {}).items()], "high-value types", run)


def pairwise_table(comparison: dict[str, Any] | None, runs: Sequence[RunInputs]) -> pd.DataFrame:
    """Paired bootstrap of every pair on validation (what choices read) and on test (reported)."""
    labels = {run.name: run.label for run in runs}
    rows = [
        {
            "set": part,
            "A": labels.get(pair["a"], pair["a"]),
            "B": labels.get(pair["b"], pair["b"]),
            "F1 difference A-B [95% CI]": with_interval(pair["mean_difference"], pair.get("ci")),
            "P(A>B)": pair["p_a_better"],
            "P(B>A)": pair["p_b_better"],
            "P(tie)": pair["p_tie"],
        }
        for part, key in (("validation", "pairwise_selection"), ("test", "pairwise"))
        for pair in (comparison or {}).get(key) or []
    ]
    if not rows:
        return not_measured("paired bootstrap", "python -m pipeline compare " + " ".join(labels))
    return pd.DataFrame(rows)


def speed_table(run: RunInputs) -> pd.DataFrame:
    bench = run.bench or {}
    variants = bench.get("variants")
    if not variants:
        return not_measured("inference speed", f"python -m pipeline bench --run {run.name}")
    reference = bench.get("reference")
    if reference:  # in the variants' columns; its name and word mapping stay in bench.json
        variants = [
            *variants,
            {
                **{column: reference.get(column) for column in variants[0]},
                "variant": "transformers pipeline",
                "ratio_to_reference": 1.0,
            },
        ]
    return pd.DataFrame(variants)


def examples_html(run: RunInputs, limit: int = 30) -> str:
    """The analysis' error examples, gold and predicted spans highlighted, grouped by category."""
    examples = analysis_section(run, "examples") or []
    if not examples:
        return f"<p>No error examples: run <code>python -m pipeline analyze --run {html.escape(run.name)}</code>.</p>"
    legend = (
        f'<p>Gold spans <mark style="background:{GOLD_COLOUR}">[blue]</mark>; predicted spans '
        f'<mark style="background:{RIGHT_COLOUR}">[green]</mark> when exactly right, '
        f'<mark style="background:{WRONG_COLOUR}">[red]</mark> otherwise.</p>'
    )
    return legend + "".join(
        highlighted_example(
            example["words"],
            example["gold_spans"],
            example["pred_spans"],
            f"{example['category']} · document {example['doc_id']}",
        )
        for example in examples[:limit]
    )
