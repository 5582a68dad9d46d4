"""Data sources (Task 1.1.1): brat folders, local `.jsonl`/parquet rows, the Hugging Face dataset.

Rows follow the Hugging Face `ktgiahieu/maccrobat2018_2020` schema: `{"tokens": [...], "tags":
[...]}`, optionally with `id`, `pmid` and `version`. That set holds the same 200 documents twice
(2018 and 2020 releases) with no document id, so rows are grouped by PubMed ID when given and
otherwise by a hash of their normalised text; `select_versions` then keeps one row per group.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from pipeline.core.documents import DataError, Document, DocumentError, LoadResult, normalised_text_key
from pipeline.core.files import jsonl_lines
from pipeline.core.tags import TagSchemeError, repair_iob2, spans_from_tags
from pipeline.data.brat import brat_pairs, read_brat_folder
from pipeline.data.conll import CONLL_SUFFIXES, is_conll_folder, read_conll
from pipeline.data.split import part_name


def document_from_row(row: Any, location: str, index: int, source: str, strict: bool) -> tuple[Document, int]:
    """Validate one row; return (document, number of repaired orphan I- tags)."""
    if not isinstance(row, dict):
        raise DataError(location, "a row must be a JSON object with 'tokens' and 'tags'")
    doc_id = str(row.get("id") or row.get("document_id") or f"row-{index:04d}")
    tokens, tags = row.get("tokens"), row.get("tags")
    if not isinstance(tokens, list) or not isinstance(tags, list):
        raise DataError(location, "missing 'tokens' or 'tags' list", doc_id)
    if not tokens:
        raise DataError(location, "empty document (no tokens)", doc_id)
    if len(tokens) != len(tags):
        raise DataError(location, f"{len(tokens)} tokens but {len(tags)} tags", doc_id)
    try:
        repaired, repairs = repair_iob2([str(tag) for tag in tags])
    except TagSchemeError as exc:
        raise DataError(location, f"unknown tag scheme: {exc}", doc_id) from exc
    if repairs and strict:
        first = next(i for i, (a, b) in enumerate(zip(tags, repaired)) if a != b)
        raise DataError(
            location,
            f"I- tag without a preceding B-/I- of its type at token {first} "
            f"({tags[first]!r}); rerun without --strict to repair it as B-",
            doc_id,
        )
    group = str(row["pmid"]) if row.get("pmid") else normalised_text_key(tokens)
    version = str(row["version"]) if row.get("version") is not None else None
    return Document(doc_id, [str(t) for t in tokens], repaired, group, source, version), repairs


def read_rows(
    rows: Iterable[tuple[str, Any]], source: str, strict: bool, total: int | None = None, progress: bool = True
) -> LoadResult:
    documents: list[Document] = []
    errors: list[DocumentError] = []
    counts: Counter = Counter()
    seen: set[str] = set()
    for index, (location, row) in enumerate(
        tqdm(rows, desc=f"reading {source}", unit="row", total=total, disable=not progress)
    ):
        try:
            if isinstance(row, DataError):  # a line that could not be parsed (see `jsonl_lines`)
                raise row
            document, repairs = document_from_row(row, location, index, source, strict)
            if document.id in seen:
                raise DataError(location, "duplicate document id (ids must be unique)", document.id)
            seen.add(document.id)
        except DataError as exc:
            errors.append(exc.record())
            continue
        documents.append(document)
        counts["rows"] += 1
        counts["orphan_i_repaired_as_b"] += repairs
        counts["spans_total"] += len(spans_from_tags(document.tags))
    counts["spans_kept"] = counts["spans_total"]
    return LoadResult(documents, source=source, conversion=dict(counts), errors=errors)


def read_jsonl_rows(path: Path, strict: bool, progress: bool) -> LoadResult:
    """Rows of a JSON-lines file; a line that is not UTF-8 or not JSON is an error record, the rest load."""
    rows = ((f"{path}:{number}", row) for number, row in jsonl_lines(path))
    return read_rows(rows, f"jsonl:{path}", strict, progress=progress)


def read_table(table: Any, source: str, strict: bool, progress: bool) -> LoadResult:
    """Rows of an in-memory table (a parquet file, a hub split), each located as `<source> row <i>`."""
    return read_rows(
        ((f"{source} row {i}", row) for i, row in enumerate(table)), source, strict, total=len(table), progress=progress
    )


def read_parquet_rows(path: Path, strict: bool, progress: bool) -> LoadResult:
    import pyarrow.parquet as pq

    return read_table(pq.read_table(path).to_pylist(), f"parquet:{path}", strict, progress)


def hub_problem(repo_id: str, repo_type: str) -> str | None:
    """Why `repo_id` cannot be fetched from the Hugging Face hub now, or None. One request without
    retries, so that an offline machine gets its answer in a second, not after a minute of backoff."""
    from huggingface_hub import constants, repo_info

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    try:
        repo_info(repo_id, repo_type=repo_type, timeout=10)
    except Exception as exc:  # the hub raises many kinds (DNS, connection, 401, 404)
        return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
    return None


def dataset_rows(dataset: Any, part: str | None) -> Iterable[dict[str, Any]]:
    """Rows of a `datasets.Dataset` in our schema: integer `ner_tags` (a ClassLabel) become tag names,
    and rows without an id get `<part>-<n>` so that ids stay unique across a dataset's splits."""
    features = dataset.features
    key = "tags" if "tags" in features else "ner_tags"
    names = getattr(getattr(features.get(key), "feature", None), "names", None)
    for index, row in enumerate(dataset):
        tags = row.get(key)
        if names and isinstance(tags, list):
            tags = [names[tag] for tag in tags]
        ids = {"id": f"{part}-{index:05d}"} if part and not (row.get("id") or row.get("document_id")) else {}
        yield {**row, **ids, "tags": tags}


def read_dataset(loaded: Any, source: str, split: str, strict: bool, progress: bool) -> LoadResult:
    """A `datasets` Dataset or DatasetDict. A DatasetDict's train/validation/test splits (any of the
    names `part_name` knows) become the predefined split; `split` reads that one split only."""
    if not hasattr(loaded, "keys"):
        return read_table(list(dataset_rows(loaded, None)), source, strict, progress)
    if split and split not in loaded:
        raise DataError(source, f"no split {split!r}; the dataset has {', '.join(loaded)}")
    named = {name: part_name(name) for name in ([split] if split else list(loaded))}
    if not split and "train" in named.values():
        named = {name: part for name, part in named.items() if part}
    located = [
        (f"{source}[{name}] row {i}", row, part)
        for name, part in named.items()
        for i, row in enumerate(dataset_rows(loaded[name], part if len(named) > 1 else None))
    ]
    rows = [(location, row) for location, row, _ in located]
    result = read_rows(rows, source, strict, total=len(rows), progress=progress)
    if len(named) > 1:
        part_of = {str(row.get("id") or row.get("document_id")): part for _, row, part in located}
        result.parts = {}
        for document in result.documents:
            result.parts.setdefault(part_of[document.id] or "", []).append(document.id)
    return result


def read_hub_rows(name: str, strict: bool, progress: bool, config: str = "", split: str = "") -> LoadResult:
    import datasets
    from huggingface_hub import constants

    problem = None if constants.HF_HUB_OFFLINE else hub_problem(name, "dataset")  # offline: the cache may hold it
    if problem is not None:
        raise DataError(
            name,
            f"no such file or folder, and as a Hugging Face dataset id it cannot be reached ({problem}). "
            "Pass --data PATH (a brat folder, .jsonl or .parquet) or set MACCROBAT_DATA.",
        )
    try:
        loaded = datasets.load_dataset(name, config or None, split=split or None)
    except Exception as exc:  # the hub raises many kinds (connection, offline mode, missing)
        raise DataError(
            f"hf:{name}",
            f"could not load the Hugging Face dataset ({type(exc).__name__}: {exc}). "
            "Offline? Pass --data PATH (a brat folder, CoNLL files, .jsonl or .parquet) or set MACCROBAT_DATA.",
        ) from exc
    return read_dataset(loaded, f"hf:{name}", "", strict, progress)


def is_saved_dataset(path: Path) -> bool:
    """A folder written by `datasets`' `save_to_disk`."""
    return (path / "dataset_dict.json").is_file() or (path / "dataset_info.json").is_file()


def plain_brat_folder(source: str) -> bool:
    """A brat folder without a split of its own (no train/dev/test subfolders): the sources for which
    `all` rebuilds the Hugging Face set's structure to measure the leak of a row split."""
    path = Path(source)
    if not path.is_dir() or is_saved_dataset(path) or is_conll_folder(path):
        return False
    return brat_pairs(path)[1] is None


def load_documents(
    source: str,
    strict: bool = False,
    progress: bool = True,
    token_column: int = 0,
    tag_column: int = -1,
    hf_config: str = "",
    hf_split: str = "",
) -> LoadResult:
    """Read any supported source into Documents; a bad document is recorded and the rest load."""
    path = Path(source)
    if path.is_dir() and is_saved_dataset(path):
        import datasets

        result = read_dataset(datasets.load_from_disk(str(path)), f"hf:{path}", hf_split, strict, progress)
    elif is_conll_folder(path) or (path.is_file() and path.suffix in CONLL_SUFFIXES):
        result = read_conll(path, token_column, tag_column)
    elif path.is_dir():
        result = read_brat_folder(path, progress=progress)
    elif path.suffix in (".jsonl", ".json") and path.is_file():
        result = read_jsonl_rows(path, strict, progress)
    elif path.suffix == ".parquet" and path.is_file():
        result = read_parquet_rows(path, strict, progress)
    elif path.exists():
        raise DataError(
            source,
            "unsupported data source: expected a brat folder, CoNLL files "
            f"({', '.join(CONLL_SUFFIXES)}), a .jsonl or a .parquet file, or a saved Hugging Face dataset",
        )
    elif path.parent.is_dir() and path.parent != Path("."):
        raise DataError(source, f"no such file or folder (the folder {path.parent} exists; a typo?)")
    elif source.count("/") == 1 and not source.startswith((".", "/")):
        result = read_hub_rows(source, strict, progress, hf_config, hf_split)
    else:
        raise DataError(source, "no such file or folder")
    if strict and result.errors:
        raise DataError(result.errors[0].location, result.errors[0].message, result.errors[0].document)
    if not result.documents:
        raise DataError(
            source,
            f"no readable documents ({len(result.errors)} errors, first: "
            f"{result.errors[0] if result.errors else 'none'})",
        )
    return result


def select_versions(documents: list[Document], versions: str) -> tuple[list[Document], int]:
    """Keep the first, the last or all rows of each document group; return (kept, removed)."""
    if versions == "all":
        return list(documents), 0
    chosen: dict[str, Document] = {}
    for document in documents:
        if versions == "last" or document.group not in chosen:
            chosen[document.group] = document
    kept_ids = {document.id for document in chosen.values()}
    kept = [document for document in documents if document.id in kept_ids]
    return kept, len(documents) - len(kept)


HUB_RELEASES = ("2018", "2020")


def as_hub_rows(documents: Iterable[Document]) -> list[dict[str, Any]]:
    """The structure of the Hugging Face set rebuilt from one copy of each document: every document
    twice, once per release, as rows without an id (`tokens`, `tags`, `version`), in document order.

    The real 2018 and 2020 releases have byte-identical texts but their labels differ in about 16 of
    200 documents, so two identical copies overstate the leak of a row split slightly."""
    return [
        {"tokens": document.words, "tags": document.tags, "version": release}
        for document in documents
        for release in HUB_RELEASES
    ]
