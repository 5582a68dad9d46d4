"""Brat standoff -> words + IOB2: the conversion policy, the report, and bad input; and back: what we write reads
back with every span, type and character offset."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.documents import DataError
from pipeline.core.tags import spans_from_tags
from pipeline.data.brat import (
    BratEntity,
    brat_annotations,
    brat_file_stem,
    convert_document,
    read_brat_folder,
    resolve_overlaps,
    word_offsets,
    write_brat_document,
)


def write_pair(folder: Path, stem: str, text: str, ann: str) -> None:
    (folder / f"{stem}.txt").write_text(text, encoding="utf-8")
    (folder / f"{stem}.ann").write_text(ann, encoding="utf-8")


def entity(number: int, start: int, end: int, kind: str = "X") -> BratEntity:
    return BratEntity(f"T{number}", number, kind, start, end, 1, number)


def test_words_split_punctuation_and_treat_zero_width_space_as_separator():
    ranges, splits = word_offsets("A 34-yr\u200bold man.")
    text = "A 34-yr\u200bold man."
    assert [text[s:e] for s, e in ranges] == ["A", "34", "-", "yr", "old", "man", "."]
    assert splits == 0


def test_entity_boundary_inside_a_word_splits_the_word():
    ranges, splits = word_offsets("HbA1c rose", boundaries=[0, 3])
    assert [("HbA1c rose")[s:e] for s, e in ranges] == ["HbA", "1c", "rose"]
    assert splits == 1


def test_nested_spans_keep_the_inner_span():
    outer, inner = entity(1, 0, 30, "History"), entity(2, 11, 30, "Disease_disorder")
    kept, dropped = resolve_overlaps([outer, inner])
    assert kept == [inner]
    assert dropped == [(outer, "nested")]


def test_outer_span_with_two_inner_spans_keeps_both_inner_spans():
    outer, first, second = entity(1, 0, 40), entity(2, 0, 10), entity(3, 20, 40)
    kept, dropped = resolve_overlaps([outer, first, second])
    assert kept == [first, second]
    assert [reason for _, reason in dropped] == ["nested"]


def test_identical_range_keeps_the_type_listed_first():
    first, second = entity(1, 5, 9, "Sign_symptom"), entity(2, 5, 9, "Disease_disorder")
    kept, dropped = resolve_overlaps([second, first])
    assert kept == [first]
    assert dropped == [(second, "identical_other_type")]


def test_crossing_spans_drop_one_as_crossing():
    left, right = entity(1, 0, 10), entity(2, 5, 15)
    kept, dropped = resolve_overlaps([left, right])
    assert kept == [left]
    assert dropped == [(right, "crossing")]


def test_discontinuous_span_becomes_its_covering_span():
    text = "left and right ventricle"
    ann = "T1\tBiological_structure 0 4;15 24\tleft ventricle\n"
    document, counts, _ = convert_document("d1", text, ann, "d1.ann")
    assert document.tags == [
        "B-Biological_structure",
        "I-Biological_structure",
        "I-Biological_structure",
        "I-Biological_structure",
    ]
    assert counts["discontinuous"] == 1 and counts["discontinuous_joined"] == 1


def test_conversion_counts_every_kept_and_dropped_span():
    text = "History of diabetes mellitus."
    ann = (
        "T1\tHistory 0 28\tHistory of diabetes mellitus\n"
        "T2\tDisease_disorder 11 28\tdiabetes mellitus\n"
        "E1\tDisease_disorder:T2\n"
        "R1\tMODIFY Arg1:T1 Arg2:T2\n"
    )
    document, counts, dropped_by_type = convert_document("d1", text, ann, "d1.ann")
    assert document.words == ["History", "of", "diabetes", "mellitus", "."]
    assert document.tags == ["O", "O", "B-Disease_disorder", "I-Disease_disorder", "O"]
    assert (counts["spans_total"], counts["spans_kept"], counts["dropped_nested"]) == (2, 1, 1)
    assert (counts["event"], counts["relation"]) == (1, 1)
    assert dropped_by_type == {"History": 1}


def test_unparsable_ann_line_is_reported_with_file_and_line_and_the_batch_continues(tmp_path):
    write_pair(tmp_path, "good", "Fever.", "T1\tSign_symptom 0 5\tFever\n")
    write_pair(tmp_path, "bad", "Fever.", "T1\tSign_symptom 0 5\tFever\nT2 garbage\n")
    result = read_brat_folder(tmp_path, progress=False)
    assert [d.id for d in result.documents] == ["good"]
    (error,) = result.errors
    assert error.location == f"{tmp_path / 'bad.ann'}:2"
    assert error.document == "bad"


def test_offsets_outside_the_text_are_an_error():
    with pytest.raises(DataError, match=r"d\.ann:1: offsets 0-50 outside the text \(length 6\)"):
        convert_document("d", "Fever.", "T1\tSign_symptom 0 50\tFever\n", "d.ann")


def test_offsets_that_do_not_match_the_quoted_text_are_an_error():
    with pytest.raises(DataError, match=r"d\.ann:1: offsets give 'Feve' but the line quotes 'Fever'"):
        convert_document("d", "Fever.", "T1\tSign_symptom 0 4\tFever\n", "d.ann")


def test_unknown_annotation_kind_is_an_error():
    with pytest.raises(DataError, match="unknown brat annotation line"):
        convert_document("d", "Fever.", "X1\tfoo\n", "d.ann")


def test_empty_document_is_an_error():
    with pytest.raises(DataError, match="empty document"):
        convert_document("d", " \n ", "", "d.ann")


def test_unpaired_files_are_reported(tmp_path):
    write_pair(tmp_path, "good", "Fever.", "T1\tSign_symptom 0 5\tFever\n")
    (tmp_path / "only_text.txt").write_text("Cough.", encoding="utf-8")
    (tmp_path / "only_ann.ann").write_text("", encoding="utf-8")
    result = read_brat_folder(tmp_path, progress=False)
    assert sorted((e.document, e.message) for e in result.errors) == [
        ("only_ann", "has no matching .txt file"),
        ("only_text", "has no matching .ann file"),
    ]


def test_non_utf8_file_is_reported_with_the_byte_position(tmp_path):
    write_pair(tmp_path, "good", "Fever.", "T1\tSign_symptom 0 5\tFever\n")
    (tmp_path / "latin.txt").write_bytes("Fi\xe8vre.".encode("latin-1"))
    (tmp_path / "latin.ann").write_text("", encoding="utf-8")
    result = read_brat_folder(tmp_path, progress=False)
    (error,) = result.errors
    assert error.location.endswith("latin.txt") and "not UTF-8 (byte 2" in error.message


def test_real_corpus_converts_every_document_and_drops_only_what_flat_iob2_cannot_hold(shared_brat):
    result = read_brat_folder(shared_brat, progress=False)
    report = result.conversion
    assert len(result.documents) == 200 and result.errors == []
    assert report["spans_total"] == 25189
    assert report["lost_to_tokenization"] == 0
    dropped = report["spans_total"] - report["spans_kept"]
    assert dropped == report["dropped_nested"] + report["dropped_crossing"] + report["dropped_identical_other_type"]
    assert dropped / report["spans_total"] < 0.025
    assert report["dropped_crossing"] == 1
    assert report["discontinuous"] == 44
    assert report["words_split_at_entity_boundary"] > 0


def character_spans(document) -> list[tuple[int, int, str]]:
    return [
        (document.offsets[span.start][0], document.offsets[span.end - 1][1], span.type)
        for span in spans_from_tags(document.tags)
    ]


def entities(text: str, *phrases: tuple[str, str]) -> tuple[str, list[tuple[int, int, str]]]:
    """(text, [(start, end, type)]) for each (phrase, type), found left to right."""
    spans, position = [], 0
    for phrase, kind in phrases:
        start = text.index(phrase, position)
        spans.append((start, start + len(phrase), kind))
        position = start + len(phrase)
    return text, spans


ROUND_TRIP = {
    # a span over a CRLF line break, touching spans ("39" + "\u00b0C"), a span inside a word ("HbA" of "HbA1c")
    "crlf": entities(
        "Fever of 39\u00b0C and chest\r\npain.\r\nHbA1c 7%.",
        ("39", "Lab_value"),
        ("\u00b0C", "Unit"),
        ("chest\r\npain", "Sign_symptom"),
        ("HbA", "Lab_name"),
    ),
    # non-ASCII and an astral character before the spans, a span over a blank line into indented text, and one
    # over a Unicode line separator (str.splitlines cuts .ann lines there too)
    "multi": entities(
        "\U0001f600 \u00e9l\u00e8ve: shortness of\n\n   breath; left\u2028ventricle",
        ("\u00e9l\u00e8ve", "Sex"),
        ("shortness of\n\n   breath", "Sign_symptom"),
        ("left\u2028ventricle", "Biological_structure"),
    ),
}


def test_a_written_folder_reads_back_with_every_span_type_and_character_offset(tmp_path):
    for doc_id, (text, spans) in ROUND_TRIP.items():
        write_brat_document(tmp_path, doc_id, text, [(a, b, kind, f"review; confidence 0.{a}") for a, b, kind in spans])
    result = read_brat_folder(tmp_path, progress=False)
    assert result.errors == [] and result.conversion["spans_kept"] == result.conversion["spans_total"] == 7
    for document in result.documents:
        text, spans = ROUND_TRIP[document.id]
        assert document.text == text
        assert character_spans(document) == spans


def test_a_span_over_line_breaks_is_written_as_one_fragment_per_line():
    text = ROUND_TRIP["multi"][0]
    start, end, _ = ROUND_TRIP["multi"][1][1]
    assert (start, end) == (9, 32)  # the emoji is one character, as Python (and the reader) counts
    assert (
        brat_annotations(text, [(start, end, "Sign_symptom", "")])
        == "T1\tSign_symptom 9 21;26 32\tshortness of breath\n"
    )
    assert brat_annotations("chest\r\npain", [(0, 11, "X", "a\nnote")]) == (
        "T1\tX 0 5;7 11\tchest pain\n#1\tAnnotatorNotes T1\ta note\n"
    )


def test_an_entity_that_brat_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="offsets 3-9 cover no text of a 5-character note"):
        brat_annotations("Fever", [(3, 9, "X", "")])
    with pytest.raises(ValueError, match="brat types hold no whitespace"):
        brat_annotations("Fever", [(0, 5, "Sign symptom", "")])


def test_document_ids_become_distinct_safe_file_names():
    assert brat_file_stem("n12#2") == "n12#2"
    assert brat_file_stem("ward 3/n\u00e9") == "ward%203%2Fn\u00e9"
    assert brat_file_stem("ward%203%2Fn\u00e9") == "ward%25203%252Fn\u00e9"  # no two ids share a file
    assert brat_file_stem("../x") == "..%2Fx"
