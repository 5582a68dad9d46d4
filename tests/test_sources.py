"""Row sources in the Hugging Face schema (`tokens`, `tags`), version selection and bad rows."""

from __future__ import annotations

import json

import pytest

from pipeline.core.documents import DataError
from pipeline.data.sources import load_documents, normalised_text_key, select_versions


def write_rows(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


ROW = {
    "tokens": ["A", "34", "-", "year", "-", "old", "man"],
    "tags": ["O", "B-Age", "I-Age", "I-Age", "I-Age", "I-Age", "B-Sex"],
}


def test_jsonl_rows_become_documents_grouped_by_normalised_text(tmp_path):
    path = write_rows(tmp_path / "data.jsonl", [ROW, {**ROW, "tokens": [t.upper() for t in ROW["tokens"]]}])
    result = load_documents(str(path), progress=False)
    first, second = result.documents
    assert (first.id, second.id) == ("row-0000", "row-0001")
    assert first.group == second.group == normalised_text_key(ROW["tokens"])
    assert first.source == f"jsonl:{path}"


def test_parquet_rows_read_like_jsonl(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([ROW]), tmp_path / "data.parquet")
    (document,) = load_documents(str(tmp_path / "data.parquet"), progress=False).documents
    assert document.tags == ROW["tags"]


def test_tokens_and_tags_of_different_lengths_name_the_line(tmp_path):
    path = write_rows(tmp_path / "data.jsonl", [ROW, {"tokens": ["a", "b"], "tags": ["O"]}])
    result = load_documents(str(path), progress=False)
    (error,) = result.errors
    assert (error.location, error.message) == (f"{path}:2", "2 tokens but 1 tags")
    assert len(result.documents) == 1


def test_unknown_tag_scheme_names_the_line(tmp_path):
    path = write_rows(tmp_path / "data.jsonl", [ROW, {"tokens": ["a"], "tags": ["S-Age"]}])
    (error,) = load_documents(str(path), progress=False).errors
    assert error.location == f"{path}:2" and error.message.startswith("unknown tag scheme")


def test_orphan_i_tag_is_repaired_and_counted(tmp_path):
    path = write_rows(tmp_path / "data.jsonl", [{"tokens": ["a", "b"], "tags": ["I-Age", "I-Age"]}])
    result = load_documents(str(path), progress=False)
    assert result.documents[0].tags == ["B-Age", "I-Age"]
    assert result.conversion["orphan_i_repaired_as_b"] == 1


def test_orphan_i_tag_is_an_error_under_strict(tmp_path):
    path = write_rows(tmp_path / "data.jsonl", [{"tokens": ["a", "b"], "tags": ["O", "I-Age"]}])
    with pytest.raises(DataError, match=r"data\.jsonl:1: I- tag without a preceding B-/I- of its type at token 1"):
        load_documents(str(path), strict=True, progress=False)


def test_empty_document_is_an_error(tmp_path):
    path = write_rows(tmp_path / "data.jsonl", [ROW, {"tokens": [], "tags": []}])
    (error,) = load_documents(str(path), progress=False).errors
    assert error.message == "empty document (no tokens)"


def test_a_source_with_no_readable_document_fails(tmp_path):
    path = write_rows(tmp_path / "data.jsonl", [{"tokens": [], "tags": []}])
    with pytest.raises(DataError, match="no readable documents"):
        load_documents(str(path), progress=False)


def test_unreachable_hub_explains_the_offline_alternative(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError, match="Pass --data PATH"):
        load_documents("no-such-owner/no-such-dataset", progress=False)


def test_version_selection_keeps_the_last_row_of_each_document(tmp_path):
    path = write_rows(tmp_path / "data.jsonl", [ROW, {**ROW, "tags": ["O"] * 7}])
    documents = load_documents(str(path), progress=False).documents
    kept, removed = select_versions(documents, "last")
    assert [d.id for d in kept] == ["row-0001"] and removed == 1
    assert [d.id for d in select_versions(documents, "first")[0]] == ["row-0000"]
    assert len(select_versions(documents, "all")[0]) == 2
