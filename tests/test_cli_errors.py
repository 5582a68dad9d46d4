"""Expected errors derive from PipelineError: the CLI prints them as one line and exits 2; bugs keep their traceback."""

from __future__ import annotations

import errno
import logging
import os

import pytest

import pipeline.cli
from pipeline.cli import main
from pipeline.core.documents import DataError
from pipeline.core.errors import ConfigError, FileSystemError, MissingInputError, PipelineError
from pipeline.core.tags import TagSchemeError
from pipeline.modeling.registry import UnknownModelError
from pipeline.modeling.trainer import LabelSetMismatch
from pipeline.reporting.build import NotebookError


@pytest.mark.parametrize(
    "cls",
    [
        DataError,
        TagSchemeError,
        UnknownModelError,
        LabelSetMismatch,
        NotebookError,
        ConfigError,
        MissingInputError,
        FileSystemError,
    ],
)
def test_every_expected_error_is_a_pipeline_error(cls):
    assert issubclass(cls, PipelineError)


def test_a_pipeline_error_is_one_logged_line_and_exit_code_2(tmp_path, caplog):
    assert main(["analyze", "--run", "nope", "--output-dir", str(tmp_path)]) == 2
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage().startswith("no run directory 'nope'")
    assert "\n" not in record.getMessage() and record.exc_info is None


def test_an_unexpected_exception_is_not_swallowed(tmp_path, monkeypatch):
    def bug(args):
        raise ValueError("a bug, not a user error")

    monkeypatch.setattr(pipeline.cli, "cmd_analyze", bug)
    with pytest.raises(ValueError, match="a bug"):
        main(["analyze", "--run", "nope", "--output-dir", str(tmp_path)])


@pytest.mark.parametrize(
    "error, line",
    [
        (
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/full/analysis.json"),
            "/full/analysis.json: no space left on the device (ENOSPC); free space on that disk (or write somewhere "
            "else), then resume with `python -m pipeline analyze --run nope --output-dir {out}`",
        ),
        (
            OSError(errno.EACCES, os.strerror(errno.EACCES), "/locked/analysis.json"),
            "/locked/analysis.json: permission denied (EACCES); write somewhere else, or make it writable, then "
            "resume with `python -m pipeline analyze --run nope --output-dir {out}`",
        ),
    ],
    ids=["ENOSPC", "EACCES"],
)
def test_a_refusal_of_the_machine_anywhere_in_a_command_is_one_line_and_exit_code_2(
    error, line, tmp_path, monkeypatch, caplog
):
    def refused(args):
        raise error

    monkeypatch.setattr(pipeline.cli, "cmd_analyze", refused)
    assert main(["analyze", "--run", "nope", "--output-dir", str(tmp_path)]) == 2
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == line.format(out=tmp_path) and record.exc_info is None


def test_an_os_error_the_machine_did_not_cause_keeps_its_traceback(tmp_path, monkeypatch):
    def missing(args):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/nowhere")

    monkeypatch.setattr(pipeline.cli, "cmd_analyze", missing)
    with pytest.raises(FileNotFoundError):
        main(["analyze", "--run", "nope", "--output-dir", str(tmp_path)])
