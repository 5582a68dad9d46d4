"""`python -m pipeline data`: load, convert, split, tier and describe the corpus into `outputs/data/`.

Writes `documents.jsonl` (every kept document with its part), `split.json`, `tags.json` and
`summary.json`; later stages read these files and never the raw source again.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.config import DATASET, DataConfig
from pipeline.core.documents import DataError, Document
from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json, read_jsonl, sha256_of, write_json, write_jsonl
from pipeline.core.layout import Outputs, read_record, read_tags, write_record, write_tags
from pipeline.core.tags import build_tag_maps
from pipeline.data.sources import load_documents, select_versions
from pipeline.data.split import (
    PARTS,
    ROW_SPLIT_WARNING,
    assign_parts,
    leaked_groups,
    part_name,
    predefined_split,
    split_documents,
)
from pipeline.data.tiers import assign_tiers, drop_types, mention_counts, mention_threshold, types_below

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


GENERIC_FOLDERS = {"brat", "conll", "data", "standoff", "corpus", "ann", "txt", "tsv", "rows"}


def corpus_name(config: DataConfig) -> str:
    """`--corpus-name`, else the data folder's or dataset's name: the first path part from the end that is
    not a part name (`train`), a release year (`2020`) or a generic folder (`brat`, `conll`, `data`). A
    short lowercase name without separators reads as an acronym (`bc2gm` -> `BC2GM`)."""
    if config.corpus_name:
        return config.corpus_name
    if config.data == DATASET:
        return "MACCROBAT"
    path = Path(config.data)
    names = [path.stem if path.suffix else path.name, *(parent.name for parent in path.resolve().parents)]
    name = next(
        (
            n
            for n in names
            if n and not part_name(n) and not re.fullmatch(r"(19|20)\d\d", n) and n.lower() not in GENERIC_FOLDERS
        ),
        config.data,
    )
    return name.upper() if len(name) <= 10 and name.isalnum() and name.islower() else name


def split_key(config: DataConfig, documents: list[Document], predefined: dict[str, list[str]] | None) -> str:
    return sha256_of(
        {
            "ids": sorted(d.id for d in documents),
            "strategy": config.split_by,
            "seed": config.seed,
            "validation_size": config.validation_size,
            "test_size": config.test_size,
            **({"predefined": predefined} if predefined is not None else {}),
        }
    )


def split_mode(config: DataConfig, predefined: dict[str, list[str]] | None) -> str:
    """predefined or random: `--split auto` takes the source's own split when it has one."""
    if config.split == "predefined" and predefined is None:
        raise ConfigError(
            f"--split predefined: {config.data} has no split of its own (brat train/dev/test subfolders, CoNLL "
            "train/dev/test files or Hugging Face splits); use --split random or --split-file"
        )
    if config.split == "random" or predefined is None or config.split_by == "rows":
        return "random"
    return "predefined"


def read_split_file(path: str | Path, documents: list[Document]) -> dict[str, Any]:
    """A split.json as the data stage writes it; every document in exactly one part, no unknown id."""
    split = read_json(path)
    missing_parts = [part for part in PARTS if not isinstance(split.get(part), list)]
    if missing_parts:
        raise DataError(str(path), f"a split file needs the lists {', '.join(PARTS)}; missing {missing_parts}")
    known = {document.id for document in documents}
    listed = [doc_id for part in PARTS for doc_id in split[part]]
    unknown = sorted(set(listed) - known)
    if unknown:
        raise DataError(str(path), f"{len(unknown)} ids are not in the data, e.g. {unknown[:3]}")
    twice = sorted(doc_id for doc_id, n in Counter(listed).items() if n > 1)
    if twice:
        raise DataError(str(path), f"{len(twice)} ids are in more than one part, e.g. {twice[:3]}")
    unlisted = sorted(known - set(listed))
    if unlisted:
        raise DataError(str(path), f"{len(unlisted)} documents of the data are in no part, e.g. {unlisted[:3]}")
    return {"strategy": "file", "seed": split.get("seed"), "file": str(path), **{p: split[p] for p in PARTS}}


def reuse_or_make_split(
    config: DataConfig, documents: list[Document], path: Path, predefined: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The split of `--split-file`; else the saved split when it was made from the same documents and
    settings; else a new one (the source's own split, or a stratified one)."""
    if config.split_file:
        return read_split_file(config.split_file, documents)
    mode = split_mode(config, predefined)
    key = split_key(config, documents, predefined if mode == "predefined" else None)
    if path.exists():
        saved = read_json(path)
        if saved.get("key") == key:
            log.info("reusing the saved split %s", path)
            return saved
        log.warning("the saved split %s was made from other documents or settings; making a new one", path)
    if mode == "predefined":
        assert predefined is not None
        split = predefined_split(documents, predefined, config.validation_size, config.seed)
    else:
        split = split_documents(documents, config.split_by, config.validation_size, config.test_size, config.seed)
    split["key"] = key
    return split


def prepare_data(config: DataConfig, measure: Measure, progress: bool = True) -> dict[str, Any]:
    """Run the data stage and return its summary (also written to `outputs/data/summary.json`)."""
    out = Outputs(config.output_dir)
    loaded = load_documents(
        config.data,
        strict=config.strict,
        progress=progress,
        token_column=config.conll_token_column,
        tag_column=config.conll_tag_column,
        hf_config=config.hf_config,
        hf_split=config.hf_split,
    )
    for error in loaded.errors:
        log.error("skipped document: %s", error)
    # a given split (the source's own, a split file) is kept whole: no copy is removed from it
    given = bool(config.split_file) or split_mode(config, loaded.parts) == "predefined"
    versions = "all" if config.split_by == "rows" or given else config.versions
    documents, duplicates_removed = select_versions(loaded.documents, versions)
    grouped_copies = len(loaded.documents) - len({document.group for document in loaded.documents})
    # a removed copy's entities are counted by the conversion but are in no written document
    removed_spans = sum(len(d.spans) for d in loaded.documents) - sum(len(d.spans) for d in documents)
    entities_total = loaded.conversion.get("spans_total", 0) - removed_spans
    entities_kept = loaded.conversion.get("spans_kept", 0) - removed_spans

    split = reuse_or_make_split(config, documents, out.split, loaded.parts)
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
    train_total = sum(train_counts.values())
    all_counts = mention_counts(documents)
    part_counts = {part: mention_counts(parts[part]) for part in PARTS}

    lengths = measure(documents)
    leaks = leaked_groups(documents, split)
    summary: dict[str, Any] = {
        "corpus": corpus_name(config),
        "source": loaded.source,
        "documents": len(documents),
        "documents_read": len(loaded.documents),
        "grouped_copies": grouped_copies,
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
        "tiers": {
            "frequent_above": round(mention_threshold(config.frequent_above, train_total), 1),
            "rare_below": round(mention_threshold(config.rare_below, train_total), 1),
            "given_as": {"frequent_above": config.frequent_above, "rare_below": config.rare_below},
            "counted_on": "train",
        },
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


SPLIT_LABELS = {"predefined": "predefined (the source's own)", "file": "from the split file"}


def format_summary(summary: dict[str, Any]) -> str:
    """The short table `python -m pipeline data` prints."""
    split = summary["split"]
    tiers: dict[str, int] = {}
    for info in summary["types"].values():
        tiers[info["tier"]] = tiers.get(info["tier"], 0) + 1
    words, pieces = summary["words_per_document"], summary["wordpieces_per_document"]
    rows = [
        ("corpus", summary["corpus"]),
        ("source", summary["source"]),
        (
            "documents",
            f"{summary['documents']} ({summary['grouped_copies']} copies of another document's text, grouped; "
            f"{summary['document_versions_removed']} duplicate versions removed)",
        ),
        (
            "split",
            f"{SPLIT_LABELS.get(split['strategy'], split['strategy'])}: train {split['train']} / validation {split['validation']} / test "
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
            f"({summary['windows']} windows: --max-length {summary['max_length']}, --overlap {summary['overlap']}, "
            "as train cuts them with the same profile and flags)",
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
