"""Tables of the data page: the corpus and its split, tiers, types, lengths, the conversion to IOB2, and
the leak of a row split (summary.json, leak.json)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from pipeline.reporting.tables.formatting import not_measured, with_interval


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
