"""Frequency tiers from training counts, and the rare-type policy."""

from collections import Counter

from pipeline.core.documents import Document
from pipeline.data.tiers import assign_tiers, drop_types, mention_counts, types_below


def test_tiers_use_the_thresholds_strictly():
    counts = Counter({"A": 1001, "B": 1000, "C": 100, "D": 99})
    assert assign_tiers(counts, ["A", "B", "C", "D", "E"]) == {
        "A": "frequent",
        "B": "medium",
        "C": "medium",
        "D": "rare",
        "E": "rare",
    }


def test_thresholds_are_configurable():
    assert assign_tiers(Counter({"A": 60}), ["A"], frequent_above=50, rare_below=10) == {"A": "frequent"}


def test_drop_policy_turns_rare_types_into_o_and_counts_mentions():
    documents = [Document("d", ["a", "b", "c"], ["B-Mass", "I-Mass", "B-Age"], "d", "fixture")]
    dropped = types_below(mention_counts(documents), ["Age", "Mass", "Height"], 1)
    assert dropped == ["Height"]
    result, removed = drop_types(documents, {"Mass"})
    assert result[0].tags == ["O", "O", "B-Age"] and removed == 1
