"""The leak of a row split: the Hugging Face structure rebuilt from brat, the row split's leaked test rows,
and the inflation measured from the two runs."""

from __future__ import annotations

import pytest
from fixtures import make_fixture_run, make_leak_outputs

from pipeline.core.files import read_json, write_jsonl
from pipeline.core.layout import Outputs, read_record
from pipeline.core.scoring import strict_scores
from pipeline.core.tags import Span, tags_from_spans
from pipeline.data.sources import as_hub_rows, load_documents
from pipeline.data.split import assign_parts, split_documents
from pipeline.evaluation.leak import row_split


def corpus(n: int = 40) -> list:
    from pipeline.core.documents import Document

    words = [f"word{i}" for i in range(6)]
    return [
        Document(
            f"doc{i}",
            [*words, f"unique{i}"],
            tags_from_spans(7, [Span(i % 5, i % 5 + 1, ("Age", "Sex")[i % 2])]),
            f"doc{i}",
            "t",
        )
        for i in range(n)
    ]


def test_the_rebuilt_set_holds_every_document_twice_and_groups_the_copies(tmp_path):
    path = write_jsonl(tmp_path / "rows.jsonl", as_hub_rows(corpus(3)))
    rows = load_documents(str(path), progress=False).documents
    assert len(rows) == 6 and [r.version for r in rows] == ["2018", "2020"] * 3
    assert rows[0].group == rows[1].group != rows[2].group  # copies share the normalised-text group
    assert rows[0].words == rows[1].words and rows[0].tags == rows[1].tags


def test_a_row_split_leaks_test_rows_and_a_document_split_does_not(tmp_path):
    path = write_jsonl(tmp_path / "rows.jsonl", as_hub_rows(corpus(40)))
    rows = load_documents(str(path), progress=False).documents
    for strategy, folder in (("rows", "by-rows"), ("document", "by-document")):
        split = split_documents(rows, strategy, validation_size=8, test_size=8, seed=42)
        parts = assign_parts(rows, split)
        write_jsonl(
            Outputs(tmp_path / folder).documents,
            ({**d.to_json(), "part": part} for part, docs in parts.items() for d in docs),
        )
    rows = row_split(tmp_path / "by-rows")
    assert (
        rows["test_rows"] == 8 and rows["leaked_rows"] >= 5
    )  # each test row's copy is in training with probability 64/79
    documents = row_split(tmp_path / "by-document")
    assert (documents["test_rows"], documents["leaked_rows"]) == (16, 0)  # 8 documents, both copies, none in training


def test_the_inflation_is_the_difference_of_the_two_runs_test_f1(tmp_path):
    document_run = make_fixture_run(tmp_path / "runs", "crf-20261128-120000", seed=2, model="crf")
    leak = read_record(make_leak_outputs(tmp_path, document_run, leaked=8), "leak")
    rows_metrics = read_json(Outputs(tmp_path).leak_dir / "runs" / "crf-20261128-130000" / "metrics.json")
    document_metrics = read_json(document_run / "metrics.json")
    assert (leak["rows"]["test_rows"], leak["rows"]["leaked_rows"], leak["rows"]["leaked_share"]) == (10, 8, 0.8)
    assert leak["rows"]["micro_f1"] == pytest.approx(rows_metrics["test"]["micro"]["f1"])
    assert leak["document"]["micro_f1"] == pytest.approx(document_metrics["test"]["micro"]["f1"])
    assert leak["inflation"]["points"] == pytest.approx(100 * (leak["rows"]["micro_f1"] - leak["document"]["micro_f1"]))
    low, high = leak["inflation"]["ci"]
    assert low <= leak["inflation"]["points"] <= high
    assert leak["model"] == "crf" and "overstates the leak" in leak["note"]


def test_strict_scores_of_the_fixture_runs_differ_so_the_inflation_is_not_zero(tmp_path):
    a = make_fixture_run(tmp_path, "a-20261128-120000", seed=2)
    b = make_fixture_run(tmp_path, "b-20261128-120000", seed=7)
    assert read_json(a / "metrics.json")["test"] != read_json(b / "metrics.json")["test"]
    assert strict_scores([["B-Age"]], [["B-Age"]])["micro"]["f1"] == 1.0


def test_the_leak_records_the_row_split_sizes_it_measured(tmp_path):
    document_run = make_fixture_run(tmp_path / "runs", "crf-20261128-120000", seed=2, model="crf")
    leak = read_record(make_leak_outputs(tmp_path, document_run, leaked=8), "leak")
    assert leak["rows"]["parts"] == {"train": 8, "validation": 0, "test": 10}
