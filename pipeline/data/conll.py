"""CoNLL-style token files (CoNLL-2003, BC2GM's `.tsv`) to Documents with IOB2 tags.

One token per line, whitespace-separated columns (the token and the tag columns are configurable),
a blank line after each sentence. `-DOCSTART-` lines, when a file has them, separate documents;
otherwise each sentence is a document (BC2GM). IOB1, IOB2 and BIOES tags all become IOB2. A bad
line (too few columns, an unknown tag prefix) is reported with its file and line and only its
document is skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from pipeline.core.documents import DataError, Document, DocumentError, LoadResult, normalised_text_key
from pipeline.core.tags import OUTSIDE, repair_iob2, spans_from_tags
from pipeline.data.split import part_name

CONLL_SUFFIXES = (".txt", ".conll", ".tsv", ".iob", ".bio")
DOCSTART = "-DOCSTART-"
# BIOES (and its BILOU spelling) prefixes read as IOB: single and end tokens start or continue a span
BIOES_TO_IOB = {"S": "B", "U": "B", "E": "I", "L": "I", "B": "B", "I": "I"}


def iob2_tags(tags: list[str], location: str) -> tuple[list[str], int]:
    """IOB1, IOB2 or BIOES tags as IOB2; return (tags, I- tags that had to start a span)."""
    converted = []
    for tag in tags:
        if tag == OUTSIDE:
            converted.append(tag)
            continue
        prefix, dash, entity_type = tag.partition("-")
        if not dash or not entity_type or prefix not in BIOES_TO_IOB:
            raise DataError(location, f"unknown tag {tag!r} (expected O, or B-/I-/E-/S-/L-/U- and a type)")
        converted.append(f"{BIOES_TO_IOB[prefix]}-{entity_type}")
    return repair_iob2(converted)


def conll_files(path: Path) -> list[Path]:
    """The CoNLL files of a folder (train/dev/test first, then by name), or the file itself."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in CONLL_SUFFIXES)
    if not files:
        raise DataError(str(path), f"no CoNLL files ({', '.join(CONLL_SUFFIXES)}) found")
    return files


def is_conll_folder(path: Path) -> bool:
    """A folder of CoNLL files and no brat `.ann` file: `.conll`/`.tsv`/`.iob`/`.bio` files, or `.txt`
    files named like parts (`train.txt`, `dev.txt`, `test.txt`; other `.txt` files are brat texts)."""
    if not path.is_dir() or any(path.rglob("*.ann")):
        return False
    return any(
        p.is_file() and (p.suffix in CONLL_SUFFIXES[1:] or (p.suffix == ".txt" and part_name(p.stem)))
        for p in path.iterdir()
    )


def sentences(path: Path) -> Iterator[tuple[int, list[tuple[int, list[str]]]]]:
    """(first line number, [(line number, columns)]) per blank-line-separated block; a
    `-DOCSTART-` line is yielded as its own one-line block."""
    block: list[tuple[int, list[str]]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            columns = line.split()
            if columns and columns[0] == DOCSTART:
                if block:
                    yield block[0][0], block
                yield number, [(number, columns)]
                block = []
            elif columns:
                block.append((number, columns))
            elif block:
                yield block[0][0], block
                block = []
    if block:
        yield block[0][0], block


def read_conll_file(
    path: Path, token_column: int = 0, tag_column: int = -1
) -> tuple[list[Document], list[DocumentError], Counter]:
    """Documents of one file; ids are `<file stem>-<n>` (e.g. `train-00001`)."""
    text = path.read_text(encoding="utf-8")
    has_docstart = any(line.startswith(DOCSTART) for line in text.splitlines())
    documents: list[Document] = []
    errors: list[DocumentError] = []
    counts: Counter = Counter()
    words: list[str] = []
    tags: list[str] = []
    start = 0
    bad: DataError | None = None

    def close() -> None:
        nonlocal words, tags, bad
        doc_id = f"{path.stem}-{len(documents) + len(errors) + 1:05d}"
        if bad is not None:
            errors.append(DocumentError(doc_id, bad.location, bad.message))
        elif words:
            try:
                iob2, repairs = iob2_tags(tags, f"{path}:{start}")
            except DataError as exc:
                errors.append(DocumentError(doc_id, exc.location, exc.message))
            else:
                counts["orphan_i_repaired_as_b"] += repairs
                counts["spans_total"] += len(spans_from_tags(iob2))
                group = normalised_text_key(words)
                documents.append(Document(doc_id, words, iob2, group, f"conll:{path}"))
        words, tags, bad = [], [], None

    for first, block in sentences(path):
        if block[0][1][0] == DOCSTART:
            if words or bad:
                close()
            continue
        if not has_docstart and (words or bad):
            close()
        if not words and bad is None:
            start = first
        counts["sentences"] += 1
        for number, columns in block:
            tag_index = tag_column if tag_column >= 0 else len(columns) + tag_column
            if not 0 <= tag_index < len(columns) or token_column >= len(columns) or tag_index == token_column:
                bad = bad or DataError(
                    f"{path}:{number}",
                    f"{len(columns)} columns, but the token column is {token_column} and the tag column "
                    f"{tag_column} (set --conll-token-column / --conll-tag-column)",
                )
                continue
            words.append(columns[token_column])
            tags.append(columns[tag_column])
            if bad is None:
                try:
                    iob2_tags([columns[tag_column]], f"{path}:{number}")
                except DataError as exc:
                    bad = exc
    if words or bad:
        close()
    return documents, errors, counts


def read_conll(path: str | Path, token_column: int = 0, tag_column: int = -1) -> LoadResult:
    """Every CoNLL file of `path`; files named like train/dev/test give the predefined split."""
    path = Path(path)
    documents: list[Document] = []
    errors: list[DocumentError] = []
    counts: Counter = Counter()
    parts: dict[str, list[str]] = {}
    for file in conll_files(path):
        try:
            read, failed, file_counts = read_conll_file(file, token_column, tag_column)
        except UnicodeDecodeError as exc:
            raise DataError(str(file), f"not UTF-8 (byte {exc.start})") from exc
        documents += read
        errors += failed
        counts.update(file_counts)
        part = part_name(file.stem)
        if part:
            parts.setdefault(part, []).extend(document.id for document in read)
    counts["spans_kept"] = counts["spans_total"]
    predefined = parts if path.is_dir() and "train" in parts and len(parts) > 1 else None
    return LoadResult(documents, source=f"conll:{path}", conversion=dict(counts), errors=errors, parts=predefined)
