"""The on-disk contract: paths under outputs/, schema versions, and errors that name the file."""

from __future__ import annotations

import pytest

from pipeline.core.errors import CorruptOutputError, MissingInputError, PipelineError, StaleOutputError
from pipeline.core.files import write_json
from pipeline.core.layout import (
    SCHEMAS,
    Outputs,
    RunFolder,
    read_optional_record,
    read_record,
    read_run_config,
    write_record,
)


def test_paths_under_one_outputs_folder(tmp_path):
    out = Outputs(tmp_path)
    run = out.run("minilm-20261129-142226")
    assert out.summary == tmp_path / "data" / "summary.json"
    assert out.comparison == tmp_path / "comparison" / "comparison.json"
    assert out.stage("report") == tmp_path / "stages" / "report.json"
    assert run.analysis == tmp_path / "runs" / "minilm-20261129-142226" / "analysis" / "analysis.json"
    assert run.policy == tmp_path / "runs" / "minilm-20261129-142226" / "policy.json"
    assert run.predictions("test") == run.path / "predictions" / "test.jsonl"
    assert run.trial(2e-4) == run.path / "trials" / "lr-0.0002"


def test_a_record_carries_its_schema_version_first_and_reads_back(tmp_path):
    path = write_record(tmp_path / "metrics.json", "metrics", {"run": "r", "schema_version": 0})
    assert path.read_text().splitlines()[1] == f'  "schema_version": {SCHEMAS["metrics"][0]},'
    assert read_record(path, "metrics") == {"schema_version": SCHEMAS["metrics"][0], "run": "r"}


def test_a_run_config_that_calls_the_window_overlap_stride_reads_as_overlap(tmp_path):
    folder = RunFolder(tmp_path / "minilm-20261129-142226")
    folder.path.mkdir()
    write_record(folder.config, "run_config", {"model": "minilm", "train": {"max_length": 256, "stride": 64}})
    assert read_run_config(folder.path)["train"] == {"max_length": 256, "overlap": 64}


def test_an_older_record_names_the_file_and_the_command_that_rebuilds_it(tmp_path):
    path = write_json(tmp_path / "analysis.json", {"run": "minilm-1", "scores": {}})
    with pytest.raises(
        StaleOutputError,
        match=r"analysis.json has schema version None but this pipeline reads "
        rf"version {SCHEMAS['analysis'][0]}: rebuild it with `python -m pipeline analyze --run minilm-1`",
    ):
        read_record(path, "analysis", run="minilm-1")


def test_a_truncated_record_is_named_with_its_path(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"run": "minilm-1", "test": {"micro": {"f1": 0.5', encoding="utf-8")
    with pytest.raises(CorruptOutputError, match=rf"{path}: not valid JSON"):
        read_record(path, "metrics")


def test_a_missing_record_says_which_command_writes_it(tmp_path):
    with pytest.raises(MissingInputError, match=r"summary.json not found: run `python -m pipeline data` first"):
        read_record(tmp_path / "data" / "summary.json", "summary")
    assert read_optional_record(tmp_path / "bench.json", "bench") is None


def test_layout_errors_are_pipeline_errors():
    assert all(issubclass(error, PipelineError) for error in (MissingInputError, StaleOutputError, CorruptOutputError))
