"""IOB2 decoding, repair and tag maps, with the awkward cases worked by hand."""

import pytest

from pipeline.core.tags import Span, TagSchemeError, build_tag_maps, repair_iob2, spans_from_tags, tags_from_spans


def test_orphan_i_after_o_starts_a_new_entity():
    assert spans_from_tags(["O", "I-Age", "I-Age"]) == [Span(1, 3, "Age")]


def test_i_of_another_type_starts_a_new_entity():
    assert spans_from_tags(["B-Age", "I-Sex"]) == [Span(0, 1, "Age"), Span(1, 2, "Sex")]


def test_adjacent_entities_of_one_type_stay_apart():
    assert spans_from_tags(["B-Dosage", "B-Dosage", "I-Dosage"]) == [Span(0, 1, "Dosage"), Span(1, 3, "Dosage")]


def test_repair_rewrites_only_orphan_i_tags():
    assert repair_iob2(["I-Age", "I-Age", "O", "B-Sex", "I-Age"]) == (["B-Age", "I-Age", "O", "B-Sex", "B-Age"], 2)


def test_other_tag_schemes_are_rejected():
    with pytest.raises(TagSchemeError, match="'S-Age' is not IOB2"):
        repair_iob2(["S-Age"])


def test_tags_round_trip_through_spans():
    tags = ["B-Age", "I-Age", "O", "B-Sex"]
    assert tags_from_spans(4, spans_from_tags(tags)) == tags


def test_tag_map_has_o_first_and_an_i_tag_for_every_b_tag():
    tag2id, id2tag = build_tag_maps(["Sex", "Age", "Sex"])
    assert tag2id == {"O": 0, "B-Age": 1, "I-Age": 2, "B-Sex": 3, "I-Sex": 4}
    assert id2tag[4] == "I-Sex"
