"""Tables of the error analysis (a model's page and the insights): the taxonomy, type confusions, exact and
partial match rates, surface patterns, boundary errors by length, and highlighted examples (analysis.json).

`highlighted_example` colours gold and predicted spans and also brackets them, so the PDF, which drops
colours, still shows every span.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.evaluation.taxonomy import SAME_TYPE_BOUNDARY
from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.tables.formatting import analysis_section, not_measured, records_table, with_interval

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
