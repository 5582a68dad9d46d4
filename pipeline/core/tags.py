"""IOB2 tags: parsing, repair, spans and tag maps.

Decoding rule used everywhere (gold repair and prediction decoding): an `I-X` that follows `O`
or a tag of another type starts a new entity, i.e. it is read as `B-X`. After `repair_iob2` a
sequence is valid IOB2, so strict seqeval scoring and our own span code agree exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.core.errors import PipelineError

OUTSIDE = "O"


@dataclass(frozen=True, order=True)
class Span:
    """An entity over words [start, end) of one document."""

    start: int
    end: int
    type: str

    def __len__(self) -> int:
        return self.end - self.start


class TagSchemeError(PipelineError, ValueError):
    """A tag that is not `O`, `B-X` or `I-X`."""


def parse_tag(tag: str) -> tuple[str, str | None]:
    """Split `B-Age` into ("B", "Age"); `O` into ("O", None)."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, entity_type = tag.partition("-")
    if sep and prefix in ("B", "I") and entity_type:
        return prefix, entity_type
    raise TagSchemeError(f"tag {tag!r} is not IOB2 (expected 'O', 'B-<type>' or 'I-<type>')")


def repair_iob2(tags: Sequence[str]) -> tuple[list[str], int]:
    """Rewrite every `I-X` that does not continue an `X` entity as `B-X`; return (tags, repairs)."""
    repaired: list[str] = []
    repairs = 0
    previous_type: str | None = None
    for tag in tags:
        prefix, entity_type = parse_tag(tag)
        if prefix == "I" and entity_type != previous_type:
            tag = f"B-{entity_type}"
            repairs += 1
        repaired.append(tag)
        previous_type = entity_type
    return repaired, repairs


def spans_from_tags(tags: Sequence[str]) -> list[Span]:
    """Entities of an IOB2 sequence, using the decoding rule of this module."""
    spans: list[Span] = []
    start: int | None = None
    current: str | None = None
    for index, tag in enumerate(tags):
        prefix, entity_type = parse_tag(tag)
        continues = prefix == "I" and entity_type == current
        if start is not None and not continues:
            spans.append(Span(start, index, current))  # type: ignore[arg-type]
            start, current = None, None
        if prefix in ("B", "I") and not continues:
            start, current = index, entity_type
    if start is not None:
        spans.append(Span(start, len(tags), current))  # type: ignore[arg-type]
    return spans


def tags_from_spans(length: int, spans: Iterable[Span]) -> list[str]:
    tags = [OUTSIDE] * length
    for span in spans:
        for index in range(span.start, span.end):
            if tags[index] != OUTSIDE:
                raise ValueError(f"spans overlap at word {index}: {span}")
            tags[index] = ("B-" if index == span.start else "I-") + span.type
    return tags


def build_tag_maps(entity_types: Iterable[str]) -> tuple[dict[str, int], dict[int, str]]:
    """`O` first, then `B-X`, `I-X` for every type in alphabetical order (stable across runs)."""
    tag2id = {OUTSIDE: 0}
    for entity_type in sorted(set(entity_types)):
        for prefix in ("B", "I"):
            tag2id[f"{prefix}-{entity_type}"] = len(tag2id)
    return tag2id, {index: tag for tag, index in tag2id.items()}


def entity_types_of(tag2id: dict[str, int]) -> list[str]:
    return sorted({entity_type for tag in tag2id for _, entity_type in [parse_tag(tag)] if entity_type})
