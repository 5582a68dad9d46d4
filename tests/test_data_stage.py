"""`python -m pipeline data` end to end on a small brat folder."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO
from conftest import synthetic_brat_folder as brat_folder


def test_data_command_writes_the_contract_files_and_prints_a_summary(tmp_path):
    source = brat_folder(tmp_path / "brat")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "data",
            "--data",
            str(source),
            "--output-dir",
            str(tmp_path / "out"),
            "--validation-size",
            "2",
            "--test-size",
            "2",
            "--rare-policy",
            "drop",
            "--rare-min-mentions",
            "5",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert "split                document: train 8 / validation 2 / test 2" in result.stdout
    out = tmp_path / "out" / "data"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["documents"] == 12 and summary["entities_total"] == 36
    assert summary["window_word_coverage"] == 1.0
    assert (summary["max_length"], summary["overlap"]) == (256, 64)  # the cpu profile's training windows
    assert "--max-length 256, --overlap 64, as train cuts them with the same profile and flags)" in result.stdout
    assert summary["types"]["Age"]["train_mentions"] == 8 and summary["types"]["Age"]["tier"] == "rare"
    assert summary["rare_policy"]["dropped_types"] == []
    tags = json.loads((out / "tags.json").read_text())
    assert list(tags["tag2id"]) == ["O", "B-Age", "I-Age", "B-Sex", "I-Sex", "B-Sign_symptom", "I-Sign_symptom"]
    split = json.loads((out / "split.json").read_text())
    assert split["strategy"] == "document" and len(split["test"]) == 2


def test_data_command_reports_a_missing_source_clearly(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "data",
            "--data",
            str(tmp_path / "nope"),
            "--output-dir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert f"{tmp_path / 'nope'}: no such file or folder" in result.stderr
