"""Entity-type frequency tiers and the rare-type policy (Task 1.1.2).

Tiers come from mention counts in the training split, never from the plan's examples: with 140
training documents even `Age` has about 150 mentions, far below the plan's "frequent" bar.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from pipeline.core.documents import Document
from pipeline.core.tags import OUTSIDE, parse_tag

TIERS = ("frequent", "medium", "rare")


def mention_counts(documents: list[Document]) -> Counter:
    return Counter(span.type for document in documents for span in document.spans)


def mention_threshold(value: float, total: int) -> float:
    """A tier threshold as a mention count: a count as given, or a share (below 1) of `total` mentions."""
    return value * total if 0 < value < 1 else value


def tier_of(count: int, frequent_above: float = 1000, rare_below: float = 100) -> str:
    if count > frequent_above:
        return "frequent"
    if count < rare_below:
        return "rare"
    return "medium"


def assign_tiers(
    train_counts: Counter, all_types: list[str], frequent_above: float = 1000, rare_below: float = 100
) -> dict[str, str]:
    """Tier of every type; a type never seen in training is rare. Thresholds below 1 are shares of all
    training mentions (0.1: a type with over a tenth of the mentions is frequent), so one setting fits
    corpora of any size."""
    total = sum(train_counts.values())
    above, below = mention_threshold(frequent_above, total), mention_threshold(rare_below, total)
    return {t: tier_of(train_counts.get(t, 0), above, below) for t in sorted(all_types)}


def types_below(train_counts: Counter, all_types: list[str], min_mentions: int) -> list[str]:
    return sorted(t for t in all_types if train_counts.get(t, 0) < min_mentions)


def drop_types(documents: list[Document], dropped: set[str]) -> tuple[list[Document], int]:
    """Turn the tags of `dropped` types into O; return (documents, mentions removed)."""
    removed = 0
    result = []
    for document in documents:
        tags = []
        for tag in document.tags:
            entity_type = parse_tag(tag)[1]
            if entity_type in dropped:
                removed += tag.startswith("B-")
                tag = OUTSIDE
            tags.append(tag)
        result.append(replace(document, tags=tags))
    return result, removed
