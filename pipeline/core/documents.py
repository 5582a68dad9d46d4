"""The one document structure every data source produces, and per-document error records."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.core.tags import Span, spans_from_tags


@dataclass
class Document:
    """One annotated case report: words (with character offsets when known) and IOB2 tags.

    `group` is shared by every version of the same document (PubMed ID, else a hash of the
    normalised text): splits assign whole groups so that no document crosses parts.
    """

    id: str
    words: list[str]
    tags: list[str]
    group: str
    source: str
    version: str | None = None
    offsets: list[tuple[int, int]] | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if len(self.words) != len(self.tags):
            raise ValueError(f"document {self.id}: {len(self.words)} words but {len(self.tags)} tags")

    @property
    def spans(self) -> list[Span]:
        return spans_from_tags(self.tags)

    def to_json(self) -> dict[str, Any]:
        row = asdict(self)
        if self.offsets is not None:
            row["offsets"] = [list(pair) for pair in self.offsets]
        return row

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Document:
        offsets = row.get("offsets")
        return cls(
            id=row["id"],
            words=list(row["words"]),
            tags=list(row["tags"]),
            group=row["group"],
            source=row["source"],
            version=row.get("version"),
            offsets=[tuple(pair) for pair in offsets] if offsets is not None else None,
            text=row.get("text"),
        )


def normalised_text_key(words: Iterable[str]) -> str:
    """Hash of the text with case, Unicode form and all whitespace removed: the group of a document
    in every source, so that copies of one text never straddle parts."""
    text = unicodedata.normalize("NFKC", "".join(words)).lower()
    text = "".join(char for char in text if not char.isspace())
    return "text-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


@dataclass
class DocumentError:
    """A document that could not be read; batch work reports it and carries on."""

    document: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message} (document {self.document})"


class DataError(PipelineError, ValueError):
    """Bad input, with the file and line (or document id) it came from."""

    def __init__(self, location: str, message: str, document: str = "?") -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message
        self.document = document

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        """Pickle with the constructor's arguments: a DataError raised in a worker process of `all`
        then reaches the CLI as itself (the default would call `DataError(message)` and fail)."""
        return DataError, (self.location, self.message, self.document)

    def record(self) -> DocumentError:
        return DocumentError(self.document, self.location, self.message)


@dataclass
class LoadResult:
    """Documents read from a source, what the conversion counted, and documents that failed."""

    documents: list[Document]
    source: str
    conversion: dict[str, Any] = field(default_factory=dict)
    errors: list[DocumentError] = field(default_factory=list)
    # the source's own split (part -> document ids) when it has one: brat train/dev/test folders,
    # CoNLL train/dev/test files, a Hugging Face dataset's splits
    parts: dict[str, list[str]] | None = None
