"""Train/validation/test split by document (Task 1.1.2), stratified on entity-type presence.

Whole document groups (every version of one document) go to one part, so no test document has a
copy in train. `strategy="rows"` reproduces the plan's row split of the 400-row Hugging Face set,
which does leak; it exists only to measure that leak.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

from pipeline.core.documents import DataError, Document
from pipeline.core.errors import ConfigError

PARTS = ("train", "validation", "test")
# folder and file names that mean a part of a corpus's own split (brat folders, CoNLL files, hub splits)
PART_NAMES = {
    "train": "train",
    "training": "train",
    "dev": "validation",
    "devel": "validation",
    "development": "validation",
    "valid": "validation",
    "validation": "validation",
    "val": "validation",
    "test": "test",
    "testing": "test",
}
log = logging.getLogger(__name__)

ROW_SPLIT_WARNING = (
    "WARNING: --split-by rows splits rows, not documents. The Hugging Face MACCROBAT set holds each "
    "document twice (2018 and 2020 releases), so copies of test documents land in train and test "
    "scores are inflated. Use it only to measure that leak."
)


def part_name(name: str) -> str | None:
    """The part a folder, file or hub split name stands for (`devel` -> validation), else None."""
    return PART_NAMES.get(name.lower())


def part_size(size: float, total: int) -> int:
    """A count (>= 1) or a fraction of `total` (< 1)."""
    count = round(float(size) * total) if 0 < size < 1 else int(size)
    if count < 1:
        raise ConfigError(f"split size {size} gives an empty part of {total} units")
    return count


def _stratified_take(labels: np.ndarray, pool: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `pool` (indices into labels) into (rest, taken) with `count` taken, stratified."""
    if count >= len(pool):
        raise ConfigError(f"cannot take {count} of {len(pool)} units and leave a training part")
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=count, random_state=seed)
    targets = labels[pool]
    if targets.shape[1] == 1:  # one type: iterstrat needs >= 2 label columns, so stratify on presence/absence
        targets = np.hstack([targets, 1 - targets])
    rest, taken = next(splitter.split(np.zeros((len(pool), 1)), targets))
    rest, taken = list(pool[rest]), list(pool[taken])
    # Iterative stratification only approximates the requested size; move the units that carry
    # the least rare-type information until the part has exactly `count` units.
    frequency = labels[pool].sum(axis=0)
    rarity = {int(unit): float((labels[unit] / np.maximum(frequency, 1)).sum()) for unit in pool}
    while len(taken) != count:
        source, target = (taken, rest) if len(taken) > count else (rest, taken)
        unit = min(source, key=lambda u: (rarity[int(u)], int(u)))
        source.remove(unit)
        target.append(unit)
    return np.array(sorted(rest)), np.array(sorted(taken))


def _units(documents: list[Document], strategy: str) -> tuple[dict[str, list[Document]], np.ndarray]:
    """Documents per unit (group, or row) and each unit's entity-type presence vector."""
    units: dict[str, list[Document]] = defaultdict(list)
    for document in documents:
        units[document.group if strategy == "document" else document.id].append(document)
    types = sorted({span.type for document in documents for span in document.spans})
    column = {entity_type: i for i, entity_type in enumerate(types)}
    labels = np.zeros((len(units), max(len(types), 1)), dtype=int)
    for row, members in enumerate(units.values()):
        for document in members:
            for span in document.spans:
                labels[row, column[span.type]] = 1
    return units, labels


def split_documents(
    documents: list[Document],
    strategy: str = "document",
    validation_size: float = 30,
    test_size: float = 30,
    seed: int = 42,
) -> dict:
    """Return `{"strategy", "seed", "train", "validation", "test"}` with document ids per part."""
    if strategy not in ("document", "rows"):
        raise ConfigError(f"unknown split strategy {strategy!r} (document | rows)")
    if strategy == "rows":
        log.warning(ROW_SPLIT_WARNING)
    units, labels = _units(documents, strategy)
    keys = list(units)
    pool = np.arange(len(keys))
    pool, test = _stratified_take(labels, pool, part_size(test_size, len(keys)), seed)
    train, validation = _stratified_take(labels, pool, part_size(validation_size, len(keys)), seed)
    parts = {"train": train, "validation": validation, "test": test}
    split: dict = {"strategy": strategy, "seed": seed}
    for part in PARTS:
        split[part] = sorted(document.id for index in parts[part] for document in units[keys[index]])
    return split


def predefined_split(
    documents: list[Document], parts: dict[str, list[str]], validation_size: float = 30, seed: int = 42
) -> dict:
    """The source's own split; without a validation part one is drawn from train (stratified, by group)."""
    if "train" not in parts or "test" not in parts:
        raise ConfigError(
            f"--split predefined needs train and test parts; the source has {', '.join(sorted(parts)) or 'none'}"
        )
    split: dict = {"strategy": "predefined", "seed": seed, **{part: sorted(ids) for part, ids in parts.items()}}
    if "validation" not in parts:
        train_ids = set(parts["train"])
        units, labels = _units([d for d in documents if d.id in train_ids], "document")
        keys = list(units)
        train, validation = _stratified_take(labels, np.arange(len(keys)), part_size(validation_size, len(keys)), seed)
        for part, indices in (("train", train), ("validation", validation)):
            split[part] = sorted(document.id for index in indices for document in units[keys[index]])
    return {key: split[key] for key in ("strategy", "seed", *PARTS)}


def assign_parts(documents: list[Document], split: dict) -> dict[str, list[Document]]:
    """Documents of each part, in split order; an id of the split missing from the data is an error."""
    by_id = {document.id: document for document in documents}
    missing = [doc_id for part in PARTS for doc_id in split[part] if doc_id not in by_id]
    if missing:
        raise DataError(
            "split.json",
            f"lists {len(missing)} documents that the data does not have, e.g. {missing[:3]}; "
            "a split made for other data (rerun `data` without reusing it)",
        )
    return {part: [by_id[doc_id] for doc_id in split[part]] for part in PARTS}


def leaked_groups(documents: list[Document], split: dict) -> list[str]:
    """Document groups that appear in more than one part (empty for a document split)."""
    part_of: dict[str, set[str]] = defaultdict(set)
    by_id = {document.id: document for document in documents}
    for part in PARTS:
        for doc_id in split[part]:
            part_of[by_id[doc_id].group].add(part)
    return sorted(group for group, parts in part_of.items() if len(parts) > 1)
