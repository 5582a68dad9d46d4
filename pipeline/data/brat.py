"""Brat standoff (`<id>.txt` + `<id>.ann`, the original MACCROBAT release) to words + IOB2.

Conversion policy (every case is counted in the conversion report):

- Only `T` lines (text-bound entities) define the entity layer; `E`, `R`, `A`, `*`, `#`, `N`
  and `M` lines are counted and otherwise ignored.
- Words: maximal runs of letters/digits, and every other non-space character on its own. Unicode
  spaces and format characters (e.g. U+200B ZERO WIDTH SPACE) separate words, so no word is made
  only of characters a BERT tokenizer deletes.
- A discontinuous entity (`start end;start end`) is kept as the span covering its fragments
  (first start to last end), the usual brat-to-CoNLL reading.
- Identical character ranges: one span per range is kept, the one listed first in the `.ann`
  file; a second type on the same range is dropped (`identical_other_type`), a repeated
  same-type span is dropped as a duplicate.
- Overlapping ranges (nested or crossing) cannot both live in flat IOB2. The converter keeps the
  largest possible set of non-overlapping spans (interval scheduling by earliest end, which is
  optimal), preferring the inner span on ties: the inner spans are the codable concepts
  (`Disease_disorder` inside `History`). Every other span is dropped as `nested` or `crossing`.
- Spans that start or end inside a word split that word at the boundary, so no kept span is lost
  to tokenization (`lost_to_tokenization` must stay 0).

Writing (`write_brat_document`, the review queue of `predict`) is the inverse: the text byte for byte (so the
offsets are those of the text as given, line endings and all), a T line per span, a span over a line break
written as fragments, one per line, the way brat writes it (read back as the span covering them), and an
AnnotatorNotes `#` line per span with a note.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from pipeline.core.documents import DataError, Document, DocumentError, LoadResult, normalised_text_key
from pipeline.core.files import atomic_write_text
from pipeline.core.tags import Span, tags_from_spans
from pipeline.data.split import part_name

WORD_PATTERN = re.compile(r"[^\W_]+|\S")
LINE_PATTERN = re.compile("[^\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]+")  # what str.splitlines() keeps together
UNSAFE_IN_FILE_NAME = re.compile(r"[^\w.#-]")
OTHER_ANNOTATION_KINDS = {
    "E": "event",
    "R": "relation",
    "A": "attribute",
    "M": "attribute",
    "*": "equivalence",
    "#": "note",
    "N": "normalization",
}


@dataclass(frozen=True)
class BratEntity:
    key: str
    number: int
    type: str
    start: int
    end: int
    fragments: int
    line: int


def read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            str(path), f"not UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r})", path.stem
        ) from exc


def offset_hint(text: str) -> str:
    """Why offsets may not match: a byte-order mark or Windows line endings shift them."""
    if text.startswith("\ufeff"):
        return "; the .txt starts with a byte-order mark (BOM), which shifts every offset by one: save it without"
    if "\r\n" in text:
        return "; the .txt has Windows line endings (CRLF), which shift offsets: convert it to LF line endings"
    return ""


def parse_ann(ann: str, text: str, ann_path: str, doc_id: str) -> tuple[list[BratEntity], Counter]:
    """Parse `T` lines and check every offset against the text; count the other line kinds."""
    entities: list[BratEntity] = []
    kinds: Counter = Counter()
    for number, line in enumerate(ann.splitlines(), start=1):
        if not line.strip():
            continue
        location = f"{ann_path}:{number}"
        kind = line[0]
        if kind in OTHER_ANNOTATION_KINDS:
            kinds[OTHER_ANNOTATION_KINDS[kind]] += 1
            continue
        if kind != "T":
            raise DataError(location, f"unknown brat annotation line {line[:40]!r}", doc_id)
        parts = line.split("\t", 2)
        if len(parts) != 3:
            raise DataError(location, "a T line needs three tab-separated fields: ID, 'Type start end', text", doc_id)
        key, body, quoted = parts
        match = re.fullmatch(r"(\S+) (\d+ \d+(?:;\d+ \d+)*)", body)
        if not re.fullmatch(r"T\d+", key) or not match:
            raise DataError(location, f"cannot parse T line {line[:60]!r}", doc_id)
        entity_type, offsets = match.groups()
        fragments = [tuple(int(x) for x in pair.split()) for pair in offsets.split(";")]
        for start, end in fragments:
            if not 0 <= start < end <= len(text):
                raise DataError(
                    location, f"offsets {start}-{end} outside the text (length {len(text)}){offset_hint(text)}", doc_id
                )
        covered = " ".join(text[start:end] for start, end in fragments)
        if covered != quoted and covered == quoted.rstrip():
            kinds["quoted_text_trailing_whitespace"] += 1  # e.g. a stray tab after the quote
        elif covered != quoted:
            raise DataError(
                location,
                f"offsets give {covered[:40]!r} but the line quotes {quoted[:40]!r}{offset_hint(text)}",
                doc_id,
            )
        kinds["T"] += 1
        entities.append(
            BratEntity(key, int(key[1:]), entity_type, fragments[0][0], fragments[-1][1], len(fragments), number)
        )
    return entities, kinds


def resolve_overlaps(entities: Iterable[BratEntity]) -> tuple[list[BratEntity], list[tuple[BratEntity, str]]]:
    """Keep the largest set of non-overlapping spans; return (kept, [(dropped, reason)])."""
    dropped: list[tuple[BratEntity, str]] = []
    by_range: dict[tuple[int, int], list[BratEntity]] = defaultdict(list)
    for entity in sorted(entities, key=lambda e: e.number):
        by_range[(entity.start, entity.end)].append(entity)
    candidates = []
    for same_range in by_range.values():
        first, *others = same_range
        candidates.append(first)
        for other in others:
            dropped.append((other, "duplicate" if other.type == first.type else "identical_other_type"))
    kept: list[BratEntity] = []
    rejected: list[BratEntity] = []
    last_end = -1
    for entity in sorted(candidates, key=lambda e: (e.end, -e.start, e.number)):
        if entity.start >= last_end:
            kept.append(entity)
            last_end = entity.end
        else:
            rejected.append(entity)
    for entity in rejected:
        overlapping = [k for k in kept if k.start < entity.end and entity.start < k.end]
        nested = all(
            (k.start <= entity.start and entity.end <= k.end) or (entity.start <= k.start and k.end <= entity.end)
            for k in overlapping
        )
        dropped.append((entity, "nested" if nested else "crossing"))
    return sorted(kept, key=lambda e: e.start), dropped


def is_separator(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf"


def word_offsets(text: str, boundaries: Iterable[int] = ()) -> tuple[list[tuple[int, int]], int]:
    """Word character ranges, split at every boundary that falls inside a word; (ranges, splits)."""
    cleaned = "".join(" " if is_separator(c) else c for c in text)
    cuts = sorted(set(boundaries))
    ranges: list[tuple[int, int]] = []
    splits = 0
    for match in WORD_PATTERN.finditer(cleaned):
        start, end = match.span()
        inside = cuts[bisect_right(cuts, start) : bisect_left(cuts, end)]
        points = [start, *inside, end]
        ranges.extend(itertools.pairwise(points))
        splits += len(inside)
    return ranges, splits


def convert_document(
    doc_id: str, text: str, ann: str, ann_path: str, version: str | None = None
) -> tuple[Document, Counter, Counter]:
    """One brat document to a Document; returns (document, conversion counts, dropped per type)."""
    if not text.strip():
        raise DataError(ann_path.replace(".ann", ".txt"), "empty document", doc_id)
    entities, counts = parse_ann(ann, text, ann_path, doc_id)
    kept, dropped = resolve_overlaps(entities)
    ranges, splits = word_offsets(text, [b for e in kept for b in (e.start, e.end)])
    starts = [start for start, _ in ranges]
    ends = [end for _, end in ranges]
    spans: list[Span] = []
    lost = 0
    for entity in kept:
        first = bisect_right(ends, entity.start)  # first word ending after the entity starts
        last = bisect_left(starts, entity.end)  # one past the last word starting before it ends
        if first >= last:
            lost += 1
            continue
        spans.append(Span(first, last, entity.type))
    counts.update(
        {
            "spans_total": len(entities),
            "spans_kept": len(spans),
            "discontinuous": sum(e.fragments > 1 for e in entities),
            "discontinuous_joined": sum(e.fragments > 1 for e in kept),
            "words_split_at_entity_boundary": splits,
            "lost_to_tokenization": lost,
        }
    )
    for _, reason in dropped:
        counts[f"dropped_{reason}"] += 1
    dropped_by_type = Counter(entity.type for entity, _ in dropped)
    words = [text[start:end] for start, end in ranges]
    document = Document(
        id=doc_id,
        words=words,
        tags=tags_from_spans(len(ranges), spans),
        group=normalised_text_key(words),
        source="brat",
        version=version,
        offsets=ranges,
        text=text,
    )
    return document, counts, dropped_by_type


def brat_pairs(folder: Path) -> tuple[dict[str, tuple[Path | None, Path | None]], dict[str, list[str]] | None]:
    """Every `.txt`/`.ann` file under `folder` (recursively) by document id, and the predefined split
    when the files sit in part folders (`train/`, `dev/`, `devel/`, `validation/`, `test/`).

    A document's id is its file stem; when two folders hold the same stem it is the path relative to
    `folder` without the suffix, so ids stay unique."""
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".txt", ".ann") and p.is_file())
    stems: dict[str, set[Path]] = defaultdict(set)
    for path in files:
        stems[path.stem].add(path.parent)
    pairs: dict[str, list[Path | None]] = {}
    for path in files:
        relative = path.relative_to(folder).with_suffix("")
        doc_id = path.stem if len(stems[path.stem]) == 1 else relative.as_posix()
        pair = pairs.setdefault(doc_id, [None, None])
        pair[path.suffix == ".ann"] = path
    parts: dict[str, list[str]] = defaultdict(list)
    for doc_id, (txt, ann) in pairs.items():
        located = txt or ann
        assert located is not None
        part = next(filter(None, map(part_name, located.relative_to(folder).parent.parts)), None)
        parts[part or ""].append(doc_id)
    predefined = dict(parts) if "" not in parts and "train" in parts and len(parts) > 1 else None
    return {doc_id: (txt, ann) for doc_id, (txt, ann) in pairs.items()}, predefined


def read_brat_folder(folder: str | Path, progress: bool = True) -> LoadResult:
    """Convert every `<id>.txt`/`<id>.ann` pair under `folder`; a bad document becomes an error record.
    Documents are grouped by their normalised text, so copies under two names never straddle parts."""
    folder = Path(folder)
    pairs, parts = brat_pairs(folder)
    documents: list[Document] = []
    errors: list[DocumentError] = []
    totals: Counter = Counter()
    dropped_by_type: Counter = Counter()
    for doc_id, (txt, ann) in pairs.items():
        if ann is None:
            errors.append(DocumentError(doc_id, str(txt), "has no matching .ann file"))
        elif txt is None:
            errors.append(DocumentError(doc_id, str(ann), "has no matching .txt file"))
    paired = sorted(doc_id for doc_id, (txt, ann) in pairs.items() if txt and ann)
    if not paired:
        raise DataError(str(folder), "no <id>.txt + <id>.ann pairs found (is this a brat folder?)")
    for doc_id in tqdm(paired, desc="brat -> IOB2", unit="doc", disable=not progress):
        txt, ann = pairs[doc_id]
        assert txt is not None and ann is not None
        version = txt.parent.name if re.fullmatch(r"(19|20)\d\d", txt.parent.name) else None
        try:
            document, counts, dropped = convert_document(doc_id, read_text(txt), read_text(ann), str(ann), version)
        except DataError as exc:
            errors.append(exc.record())
            continue
        documents.append(document)
        totals.update(counts)
        dropped_by_type.update(dropped)
    conversion = dict(sorted(totals.items()))
    conversion["dropped_by_type"] = dict(dropped_by_type.most_common())
    read = {document.id for document in documents}
    if parts is not None:
        parts = {part: sorted(set(ids) & read) for part, ids in parts.items()}
    return LoadResult(documents, source=f"brat:{folder}", conversion=conversion, errors=errors, parts=parts)


def line_fragments(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The span [start, end) as one fragment per line: a `.ann` line cannot hold a line break. Whitespace at the
    inner ends of fragments is left out; the first start and the last end stay, so the span reads back whole."""
    pieces = [match.span() for match in LINE_PATTERN.finditer(text, start, end)]
    fragments = []
    for number, (a, b) in enumerate(pieces):
        piece = text[a:b]
        if number > 0:
            a += len(piece) - len(piece.lstrip())
        if number < len(pieces) - 1:
            b -= len(piece) - len(piece.rstrip())
        if a < b:
            fragments.append((a, b))
    return fragments


def brat_annotations(text: str, entities: Sequence[tuple[int, int, str, str]]) -> str:
    """The `.ann` of `text` for entities (start, end, type, note): T1, T2, ... in the order given, each followed
    by an AnnotatorNotes line when its note is not empty (line breaks in a note become spaces)."""
    lines = []
    for number, (start, end, entity_type, note) in enumerate(entities, start=1):
        if not 0 <= start < end <= len(text) or not text[start:end].strip():
            raise ValueError(f"entity {number}: offsets {start}-{end} cover no text of a {len(text)}-character note")
        if not re.fullmatch(r"\S+", entity_type):
            raise ValueError(f"entity {number}: brat types hold no whitespace, got {entity_type!r}")
        fragments = line_fragments(text, start, end)
        offsets = ";".join(f"{a} {b}" for a, b in fragments)
        lines.append(f"T{number}\t{entity_type} {offsets}\t{' '.join(text[a:b] for a, b in fragments)}")
        if note:
            lines.append(f"#{number}\tAnnotatorNotes T{number}\t{' '.join(LINE_PATTERN.findall(note))}")
    return "".join(line + "\n" for line in lines)


def brat_file_stem(doc_id: str) -> str:
    """A document id as a file name: letters, digits and `_.#-` kept, every other character percent-encoded
    (`%` too, so two ids never share a file). The reader's id of the file is this stem."""
    return UNSAFE_IN_FILE_NAME.sub(lambda m: "".join(f"%{byte:02X}" for byte in m.group().encode()), doc_id)


def write_brat_document(
    folder: str | Path, doc_id: str, text: str, entities: Sequence[tuple[int, int, str, str]]
) -> Path:
    """`<stem>.txt` (the text as given) and `<stem>.ann` under `folder`; returns the `.ann` path."""
    stem = Path(folder) / brat_file_stem(doc_id)
    ann = brat_annotations(text, entities)
    atomic_write_text(stem.with_name(stem.name + ".txt"), text)
    return atomic_write_text(stem.with_name(stem.name + ".ann"), ann)
