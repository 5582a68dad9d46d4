"""`python -m pipeline data`: load, convert, split, tier and describe the corpus into `outputs/data/`.

Writes `documents.jsonl` (every kept document with its part), `split.json`, `tags.json` and
`summary.json`; later stages read these files and never the raw source again.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.config import DataConfig
from pipeline.core.documents import Document
from pipeline.core.files import read_json, read_jsonl, sha256_of, write_json, write_jsonl
from pipeline.core.layout import Outputs, read_record, read_tags, write_record, write_tags
from pipeline.core.tags import build_tag_maps
from pipeline.data.sources import load_documents, select_versions
from pipeline.data.split import PARTS, ROW_SPLIT_WARNING, assign_parts, leaked_groups, split_documents
from pipeline.data.tiers import assign_tiers, drop_types, mention_counts, types_below

log = logging.getLogger(__name__)
# documents -> their wordpiece, window and truncation figures (`pipeline.modeling.features.length_measure`);
# passed in, so that the data layer needs no tokenizer
Measure = Callable[[list[Document]], dict[str, Any]]


@dataclass
class PreparedData:
    """What the data stage wrote, as later stages consume it."""

    parts: dict[str, list[Document]]
    tag2id: dict[str, int]
    id2tag: dict[int, str]
    summary: dict[str, Any]
    split: dict[str, Any]


def describe(values: Sequence[float]) -> dict[str, float]:
    return {
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 1),
        "max": max(values),
    }


def reuse_or_make_split(config: DataConfig, documents: list[Document], path: Path) -> dict[str, Any]:
    """The saved split when it was made from the same documents and settings, else a new one."""
    key = sha256_of(
        {
            "ids": sorted(d.id for d in documents),
            "strategy": config.split_by,
            "seed": config.seed,
            "validation_size": config.validation_size,
            "test_size": config.test_size,
        }
    )
    if path.exists():
        saved = read_json(path)
        if saved.get("key") == key:
            log.info("reusing the saved split %s", path)
            return saved
        log.warning("the saved split %s was made from other documents or settings; making a new one", path)
    split = split_documents(documents, config.split_by, config.validation_size, config.test_size, config.seed)
    split["key"] = key
    return split


def prepare_data(config: DataConfig, measure: Measure, progress: bool = True) -> dict[str, Any]:
    """Run the data stage and return its summary (also written to `outputs/data/summary.json`)."""
    out = Outputs(config.output_dir)
    loaded = load_documents(config.data, strict=config.strict, progress=progress)
    for error in loaded.errors:
        log.error("skipped document: %s", error)
    versions = "all" if config.split_by == "rows" else config.versions
    documents, duplicates_removed = select_versions(loaded.documents, versions)
    # a removed copy's entities are counted by the conversion but are in no written document
    removed_spans = sum(len(d.spans) for d in loaded.documents) - sum(len(d.spans) for d in documents)
    entities_total = loaded.conversion.get("spans_total", 0) - removed_spans
    entities_kept = loaded.conversion.get("spans_kept", 0) - removed_spans

    split = reuse_or_make_split(config, documents, out.split)
    parts = assign_parts(documents, split)
    all_types = sorted({span.type for document in documents for span in document.spans})
    train_counts = mention_counts(parts["train"])
    rare_report: dict[str, Any] = {
        "policy": config.rare_policy,
        "min_mentions": config.rare_min_mentions,
        "dropped_types": [],
        "mentions_removed": 0,
    }
    if config.rare_policy == "drop":
        dropped = types_below(train_counts, all_types, config.rare_min_mentions)
        documents, removed = drop_types(documents, set(dropped))
        parts = assign_parts(documents, split)
        rare_report.update(dropped_types=dropped, mentions_removed=removed)
    kept_types = sorted({span.type for document in documents for span in document.spans})
    tag2id, _ = build_tag_maps(kept_types)
    tiers = assign_tiers(train_counts, all_types, config.frequent_above, config.rare_below)
    all_counts = mention_counts(documents)
    part_counts = {part: mention_counts(parts[part]) for part in PARTS}

    lengths = measure(documents)
    leaks = leaked_groups(documents, split)
    summary: dict[str, Any] = {
        "source": loaded.source,
        "documents": len(documents),
        "documents_read": len(loaded.documents),
        "document_versions_removed": duplicates_removed,
        "versions_kept": versions,
        "split": {
            "strategy": split["strategy"],
            "seed": split["seed"],
            **{part: len(split[part]) for part in PARTS},
            "groups_in_two_parts": len(leaks),
        },
        "entities_total": entities_total,
        "entities_kept": entities_kept,
        "entities_dropped": entities_total - entities_kept,
        "entities_dropped_share": (entities_total - entities_kept) / entities_total if entities_total else 0.0,
        "conversion": loaded.conversion,
        "rare_policy": rare_report,
        "tiers": {"frequent_above": config.frequent_above, "rare_below": config.rare_below, "counted_on": "train"},
        "types": {
            t: {
                "mentions": all_counts.get(t, 0),
                "train_mentions": train_counts.get(t, 0),
                "validation_mentions": part_counts["validation"].get(t, 0),
                "test_mentions": part_counts["test"].get(t, 0),
                "tier": tiers[t],
                "kept": t in kept_types,
            }
            for t in all_types
        },
        "tokenizer": config.tokenizer_model,
        **lengths,
        "errors": [asdict(error) for error in loaded.errors],
        "config": asdict(config),
    }
    write_jsonl(out.documents, ({**document.to_json(), "part": part} for part in PARTS for document in parts[part]))
    write_json(out.split, split)
    write_tags(out.tags, tag2id)
    write_record(out.summary, "summary", summary)
    return summary


def load_prepared(output_dir: str | Path) -> PreparedData:
    """Read what `prepare_data` wrote; a missing file says which command makes it."""
    out = Outputs(output_dir)
    summary = read_record(out.summary, "summary")
    parts: dict[str, list[Document]] = {part: [] for part in PARTS}
    for _, row in read_jsonl(out.documents):
        parts[row.pop("part")].append(Document.from_json(row))
    tag2id, id2tag = read_tags(out.tags)
    return PreparedData(parts, tag2id, id2tag, summary, read_json(out.split))


def format_summary(summary: dict[str, Any]) -> str:
    """The short table `python -m pipeline data` prints."""
    split = summary["split"]
    tiers: dict[str, int] = {}
    for info in summary["types"].values():
        tiers[info["tier"]] = tiers.get(info["tier"], 0) + 1
    words, pieces = summary["words_per_document"], summary["wordpieces_per_document"]
    rows = [
        ("source", summary["source"]),
        ("documents", f"{summary['documents']} ({summary['document_versions_removed']} duplicate versions removed)"),
        (
            "split",
            f"{split['strategy']}: train {split['train']} / validation {split['validation']} / test "
            f"{split['test']}; groups in two parts: {split['groups_in_two_parts']}",
        ),
        (
            "entities",
            f"{summary['entities_total']} in source, {summary['entities_kept']} kept, "
            f"{summary['entities_dropped']} dropped ({summary['entities_dropped_share']:.2%})",
        ),
        (
            "types",
            f"{len(summary['types'])} ({', '.join(f'{n} {t}' for t, n in sorted(tiers.items()))}; tiers from "
            "training mentions)",
        ),
        ("words / document", f"min {words['min']}, median {words['median']}, mean {words['mean']}, max {words['max']}"),
        (
            f"wordpieces ({summary['tokenizer']})",
            f"min {pieces['min']}, median {pieces['median']}, mean "
            f"{pieces['mean']}, max {pieces['max']}; "
            f"{summary['documents_over_512_wordpieces']} documents over 512",
        ),
        (
            "window coverage",
            f"{summary['window_word_coverage']:.4f} of words in >= 1 window "
            f"({summary['windows']} windows of {summary['window_length']}, stride "
            f"{summary['window_stride']})",
        ),
        (
            "512 truncation",
            f"would lose {summary['truncation_lost_entities']} entities "
            f"({summary['truncation_lost_entity_share']:.1%}) and {summary['truncation_lost_words']} "
            f"words in {summary['truncation_cut_documents']} documents",
        ),
        ("errors", f"{len(summary['errors'])} documents skipped" if summary["errors"] else "none"),
    ]
    repaired = summary["conversion"].get("orphan_i_repaired_as_b", 0)
    if repaired:
        rows.append(("repairs", f"{repaired} orphan I- tags read as B- (--strict makes them errors)"))
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    if split["strategy"] == "rows":
        lines.insert(0, ROW_SPLIT_WARNING)
    return "\n".join(lines)
