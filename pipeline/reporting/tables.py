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

from pipeline.evaluation.compare import model_size_mb
from pipeline.evaluation.taxonomy import SAME_TYPE_BOUNDARY
from pipeline.reporting import facts
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
                "docs/s (fastest variant keeping F1)": nan_if_none(test.docs_per_second),
            }
        )
    return pd.DataFrame(rows)


REQUIREMENT_HEADERS = {
    "throughput": lambda limit: f"throughput, docs/s (at least {number(limit)})",
    "memory": lambda limit: f"peak memory, MB (at most {limit:,.0f})",
    "precision": lambda limit: f"validation precision (at least {limit:.2f})",
}


def requirement_cell(check: dict[str, Any]) -> str:
    """'9.0 (meets)', '5120.0 (fails)', or why there is no value ('not benchmarked')."""
    if check["value"] is None:
        return check["note"]
    return f"{number(check['value'])} ({'meets' if check['met'] else 'fails'})"


def selection_table(chosen: dict[str, Any], runs: Sequence[RunInputs]) -> pd.DataFrame:
    """comparison.json's selection: per candidate its validation micro-F1, each requirement with its value and
    whether it is met, the variant bench chose, the credibility of the most accurate's lead, and the choice."""
    labels = {run.name: run.label for run in runs}
    versus = {row["run"]: row for row in chosen["versus"]}
    rows = []
    for row in chosen["candidates"]:
        checks = {check["requirement"]: check for check in row["checks"]}
        lead = versus.get(row["run"])
        if row["run"] == chosen["most_accurate"]:
            credibility = "most accurate"
        elif lead is None:
            credibility = "–"
        elif lead["p_better"] is None:
            credibility = "not paired"
        else:
            credibility = f"{lead['p_better']:.2f} ({'credible' if lead['credible'] else 'not credible'})"
        rows.append(
            {
                "model": labels.get(row["run"], row["run"]),
                "validation micro-F1 [95% CI]": with_interval(row["validation_f1"], row["validation_f1_ci"]),
                **{
                    REQUIREMENT_HEADERS[r["name"]](r["limit"]): requirement_cell(checks[r["name"]])
                    for r in chosen["requirements"]
                },
                "variant (bench's choice)": f"{row['variant']}, batch {row['batch_size']}"
                if row["benchmarked"]
                else "–",
                "meets every requirement": "yes" if row["eligible"] else "no",
                "P(most accurate better), validation": credibility,
                "chosen": "yes" if row["run"] == chosen["chosen"] else "",
            }
        )
    for row in chosen["excluded"]:
        rows.append(
            {
                "model": labels.get(row["run"], row["run"]),
                "meets every requirement": f"not a candidate ({row['reason']})",
            }
        )
    return pd.DataFrame(rows)


def decision_matrix_table(matrix: dict[str, Any], runs: Sequence[RunInputs]) -> pd.DataFrame:
    """comparison.json's decision matrix: per run the raw value and the normalised score of each criterion,
    the weighted total, and the columns that inform without weighing (training time, size, parameters)."""
    labels = {run.name: run.label for run in runs}
    weights = matrix["weights"]
    rows = []
    for row in matrix["rows"]:
        values, scores, speed = row["values"], row["scores"] or {}, row["speed_variant"] or {}
        variant = f"{speed['variant']}, batch {speed['batch_size']}" if speed else "not benchmarked"
        rows.append(
            {
                "model": labels.get(row["run"], row["run"]),
                "validation F1": nan_if_none(values["f1"]),
                f"F1 score (×{weights['f1']:g})": nan_if_none(scores.get("f1")),
                "docs/s (variant keeping F1)": nan_if_none(values["speed"]),
                "variant": variant,
                f"speed score (×{weights['speed']:g})": nan_if_none(scores.get("speed")),
                "validation rare-tier F1": nan_if_none(values["rare"]),
                f"rare score (×{weights['rare']:g})": nan_if_none(scores.get("rare")),
                "inference memory (MB)": nan_if_none(values["memory"]),
                f"memory score (×{weights['memory']:g})": nan_if_none(scores.get("memory")),
                "weighted total": f"{row['total']:.3f}" if row["candidate"] else "not a candidate (row split)",
                "training time (min)": nan_if_none(row["train_seconds"] and row["train_seconds"] / 60),
                "model size (MB)": nan_if_none(row["model_size_mb"]),
                "parameters": "–" if row["parameters"] is None else f"{row['parameters']:,}",
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
    """False-positive rate by predicted type on test; the types the deployment policy always reviews (chosen on
    validation) marked."""
    readiness = analysis_section(run, "readiness") or {}
    table = records_table(readiness.get("fp_rate_by_type"), "false-positive rates", run)
    if "type" in table:
        table["always reviewed (policy, validation)"] = table["type"].isin(facts.high_risk_types(run))
    return table


LOAD_MEASURES = (
    ("predicted spans", "predicted"),
    ("auto-coded spans", "auto_coded"),
    ("automation rate", "automation_rate"),
    ("precision of auto-coded spans", "precision"),
    ("wrong auto-coded spans", "auto_errors"),
    ("spans to review", "review_spans"),
    ("coder hours", "coder_hours"),
)


def load_value(load: dict[str, Any], key: str) -> str:
    """A measure of a policy's load as the page prints it: rates with three decimals, counts in full."""
    value = load.get(key)
    if value is None:
        return "–"
    if key in ("automation_rate", "precision"):
        return f"{value:.3f}"
    return f"{value:,.0f}" if key != "coder_hours" else f"{value:,.1f}"


def policy_overview_table(run: RunInputs) -> pd.DataFrame:
    """The deployment policy on validation (the estimate it was chosen with) beside its result on test."""
    test = analysis_section(run, "policy")
    if run.policy is None or not test:
        return not_measured("deployment policy", f"python -m pipeline analyze --run {run.name}")
    settings, validation = run.policy["settings"], run.policy["validation"]
    scale = f" ({settings['notes']:,} notes, {settings['seconds_per_span']:g} s a span)"
    return pd.DataFrame(
        [
            {
                "measure": name + (scale if key in ("review_spans", "coder_hours") else ""),
                "validation (estimate)": load_value(validation, key),
                "test (result)": load_value(test, key),
            }
            for name, key in LOAD_MEASURES
        ]
    )


def policy_types_table(run: RunInputs) -> pd.DataFrame:
    """Per entity type: the policy's decision and why (validation), its validation estimate and its test result."""
    test = (analysis_section(run, "policy") or {}).get("per_type") or {}
    if run.policy is None:
        return not_measured("deployment policy", f"python -m pipeline analyze --run {run.name}")
    rows = []
    for name, entry in run.policy["types"].items():
        on_test = test.get(name, {})
        threshold = entry["threshold"]
        rows.append(
            {
                "type": name,
                "decision": "always review"
                if threshold is None
                else f"auto at {threshold:g}" + (" (pooled)" if entry["source"] == "pooled" else ""),
                "validation predicted": entry["validation"]["predicted"],
                "validation automation": load_value(entry["validation"], "automation_rate"),
                "validation precision": load_value(entry["validation"], "precision"),
                "test predicted": on_test.get("predicted"),
                "test automation": load_value(on_test, "automation_rate"),
                "test precision": load_value(on_test, "precision"),
                "test spans to review": load_value(on_test, "review_spans"),
                "test coder hours": load_value(on_test, "coder_hours"),
                "reason (validation)": entry["reason"],
            }
        )
    return pd.DataFrame(rows)


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


def seed_table(seeds: dict[str, Any]) -> pd.DataFrame:
    """Per recipe trained with several seeds (comparison/seeds.json): each seed's validation and test
    F1, then their mean and range (is the reported run a lucky seed?)."""
    rows = []
    for group in seeds["groups"]:
        for run in group["runs"]:
            rows.append(
                {
                    "model": group["model"],
                    "seed": str(run["seed"]),
                    "validation micro-F1": f"{run['validation_f1']:.3f}",
                    "test micro-F1": with_interval(run["test_f1"], run.get("test_f1_ci")),
                    "test macro-F1": f"{run['test_macro_f1']:.3f}",
                }
            )
        rows.append(
            {
                "model": group["model"],
                "seed": f"mean (min-max) of {len(group['runs'])} seeds",
                **{
                    column: "{mean:.3f} ({min:.3f}-{max:.3f})".format(**group[key])
                    for column, key in (
                        ("validation micro-F1", "validation_f1"),
                        ("test micro-F1", "test_f1"),
                        ("test macro-F1", "test_macro_f1"),
                    )
                },
            }
        )
    return pd.DataFrame(rows)


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
    rows = [*variants, *(reference.get("rows") or [])]
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


# --- shown at last: match rates, error patterns, length, high-value types, cost, memory (Tasks 1.5, 1.7, 1.8)


def match_rates_table(run: RunInputs) -> pd.DataFrame:
    """Exact and partial match rates over the test gold spans (Task 1.5.1), with the counts behind them."""
    errors = analysis_section(run, "errors") or {}
    if "exact_match_rate" not in errors:
        return not_measured("match rates", f"python -m pipeline analyze --run {run.name}")
    counts, gold = errors["counts"], errors["gold_spans"]
    partial = counts["exact"] + sum(counts[name] for name in SAME_TYPE_BOUNDARY)
    return pd.DataFrame(
        [
            {"match": "exact (boundaries and type)", "rate": errors["exact_match_rate"], "gold spans": counts["exact"]},
            {"match": "partial (overlap, same type)", "rate": errors["partial_match_rate"], "gold spans": partial},
            {"match": "all gold spans", "rate": 1.0, "gold spans": gold},
        ]
    )


def patterns_table(run: RunInputs) -> pd.DataFrame:
    """Miss and error rates of gold spans with and without each surface pattern (Task 1.5.4), with counts."""
    patterns = analysis_section(run, "patterns")
    if not patterns:
        return not_measured("error patterns", f"python -m pipeline analyze --run {run.name}")
    return pd.DataFrame(
        [
            {
                "pattern": row["pattern"].replace("_", " "),
                "gold with": row["gold_with"],
                "missed with": row["missed_with"],
                "miss rate with": row["miss_rate_with"],
                "error rate with": row["error_rate_with"],
                "gold without": row["gold_without"],
                "missed without": row["missed_without"],
                "miss rate without": row["miss_rate_without"],
                "error rate without": row["error_rate_without"],
            }
            for row in patterns
        ]
    )


def boundary_length_table(run: RunInputs) -> pd.DataFrame:
    """Boundary-error rate per gold-length bucket with its 95% Wilson interval (Task 1.5.3)."""
    boundary = (analysis_section(run, "errors") or {}).get("boundary_by_length")
    if not boundary:
        return not_measured("boundary errors by length", f"python -m pipeline analyze --run {run.name}")
    return pd.DataFrame(
        [
            {
                "length (words)": row["length"],
                "gold spans": row["gold"],
                "boundary errors": row["boundary_errors"],
                "rate [95% CI]": with_interval(row["rate"], row["ci"] if row["gold"] else None),
            }
            for row in boundary["buckets"]
        ]
    )


def high_value_table(run: RunInputs) -> pd.DataFrame:
    """F1 and precision of the configured high-value types, and their precision and coverage at the
    high-value threshold (Task 1.8.2)."""
    high_value = (analysis_section(run, "readiness") or {}).get("high_value")
    if not high_value:
        return not_measured("high-value types", f"python -m pipeline analyze --run {run.name}")
    return pd.DataFrame(
        [
            {
                "type": name,
                "support": row["support"],
                "F1": row["f1"],
                "precision": row["precision"],
                "recall": row["recall"],
                "threshold": row["threshold"],
                "precision at threshold": row["precision_at_threshold"],
                "coverage at threshold": row["coverage_at_threshold"],
            }
            for name, row in high_value.items()
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


# --- ablation and tuning ------------------------------------------------------------------------


def ablation_table(ablation: dict[str, Any] | None) -> pd.DataFrame:
    """One row per lever, ordered by validation F1: what each decoding, tuning and combination buys."""
    if not ablation or not ablation.get("rows"):
        return not_measured("ablation", "python -m pipeline compare <transformer run> <crf runs> <combined run>")
    return pd.DataFrame(
        [
            {
                "lever": row["lever"],
                "run": row["run"] if row["source"] == "run" else f"{row['run']} (lever)",
                "validation micro-F1 (chooses)": row["validation_f1"],
                "test micro-F1 [95% CI]": with_interval(row["f1"], row["f1_ci"]),
                "test macro-F1 [95% CI]": with_interval(row["macro_f1"], row["macro_f1_ci"]),
                "test rare-tier F1": nan_if_none(row["rare_f1"]),
                "training time (min)": nan_if_none(row["train_seconds"]) / 60,
            }
            for row in ablation["rows"]
        ]
    )


def combined_versus_crf_table(ablation: dict[str, Any] | None) -> pd.DataFrame:
    """The paired bootstrap of each combined run against each CRF on the test documents."""
    rows = [
        {
            "combined": pair["combined"],
            "CRF": pair["crf"],
            f"{pair['part']} F1 difference [95% CI]": with_interval(pair["mean_difference"], pair["ci"]),
            "P(combined better)": pair["p_combined_better"],
            "P(CRF better)": pair["p_crf_better"],
        }
        for pair in (ablation or {}).get("versus") or []
    ]
    if not rows:
        return not_measured("combined against CRF", "python -m pipeline compare <crf run> <combined run>")
    return pd.DataFrame(rows)


def validation_search_table(run: RunInputs) -> pd.DataFrame:
    """What the run chose on validation: learning rates, the CRF's c1/c2 grid or the combination weight
    (and prior correction)."""
    found = run.metrics
    if found.get("grid"):
        rows = [
            {
                "c1": point["c1"],
                "c2": point["c2"],
                "L-BFGS iterations": point["iterations"],
                "validation micro-F1": point["validation_f1"],
                "fit (s)": point["fit_seconds"],
                "kept": (point["c1"], point["c2"]) == (found["selected"]["c1"], found["selected"]["c2"]),
            }
            for point in found["grid"]
        ]
    elif found.get("weight_search"):
        chosen = (found["selected_weight"], found.get("selected_tau"))
        rows = [
            {
                "transformer weight": point["weight"],
                "CRF weight": round(1 - point["weight"], 6),
                **({"prior tau": point["tau"]} if "tau" in point else {}),  # runs since the prior correction
                "validation micro-F1": point["validation_f1"],
                **({"validation macro-F1": point["validation_macro_f1"]} if "tau" in point else {}),
                "kept": (point["weight"], point.get("tau")) == chosen,
            }
            for point in found["weight_search"]
        ]
    else:
        rows = [
            {
                "learning rate": trial["lr"],
                "validation micro-F1": trial["best_val_f1"],
                "epochs run": trial["epochs_run"],
                "kept": trial["lr"] == found.get("selected_lr"),
            }
            for trial in found.get("lr_search") or []
        ]
    return pd.DataFrame(rows or [{"chosen on validation": "nothing: the run was trained with one setting"}])
