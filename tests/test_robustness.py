"""Bad input and faults, stage by stage: the message, the exit code, and that nothing good is lost.

Each table row is one class of bad input. A stage either reports the bad item (file and line, or note
id) and carries on with the rest, or stops at once with one line and exit code 2 (3: `predict` read
notes but could not predict one). Kill -9 and rerun leaves every result written exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import REPO, synthetic_brat_folder
from fixtures import make_fixture_run

from pipeline.cli import main
from pipeline.core.files import read_json, write_json
from pipeline.core.layout import Outputs, latest_run, locked_outputs

TEXT = "A {age}-year-old woman had fever and cough on day {day}."
NOTE = "A 45-year-old woman had fever and chest pain. Aspirin 5 mg was given."


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def error_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# ---------------------------------------------------------------- data: a bad item is reported, the rest load


def row(number: int, version: str | None = None) -> dict:
    """A JSON-lines data row with three entities (Age, Sex, Sign_symptom)."""
    words = ["A", f"{30 + number}-year-old", "woman", "had", "fever", "on", "day", str(number), "."]
    tags = ["O", "B-Age", "B-Sex", "O", "B-Sign_symptom", "O", "O", "O", "O"]
    return {"id": f"doc-{number}", "tokens": words, "tags": tags, **({"version": version} if version else {})}


def jsonl_with(bad_line: bytes):
    """Ten good rows with `bad_line` as line 4."""

    def write(folder: Path) -> Path:
        lines = [json.dumps(row(n)).encode() for n in range(10)]
        path = folder / "rows.jsonl"
        path.write_bytes(b"\n".join([*lines[:3], bad_line, *lines[3:]]) + b"\n")
        return path

    return write


def brat_with(stem: str, mangle):
    """The 12-document synthetic brat folder with document `stem`'s text rewritten by `mangle`."""

    def write(folder: Path) -> Path:
        source = synthetic_brat_folder(folder / "brat")
        text = source / f"{stem}.txt"
        text.write_bytes(mangle(text.read_text(encoding="utf-8")).encode("utf-8"))
        return source

    return write


def crlf_with_lf_offsets(folder: Path) -> Path:
    """A document saved with Windows line endings after its .ann was made on the LF text."""
    source = synthetic_brat_folder(folder / "brat")
    text = "Case report.\n" + (source / "1004.txt").read_text()
    shift = len("Case report.\n")
    ann = "".join(
        f"{key}\t{kind} {int(start) + shift} {int(end) + shift}\t{quoted}\n"
        for key, body, quoted in (line.split("\t") for line in (source / "1004.ann").read_text().splitlines())
        for kind, start, end in [body.split()]
    )
    (source / "1004.txt").write_bytes(text.replace("\n", "\r\n").encode())
    (source / "1004.ann").write_text(ann)
    return source


BAD_DATA = {
    # case: (source writer, documents that load, error location suffix, error message fragment)
    "invalid JSON line": (jsonl_with(b'{"id": "doc-x", "tokens": ['), 10, "rows.jsonl:4", "not valid JSON"),
    "non-UTF-8 line": (
        jsonl_with(b'{"id": "doc-x", "tokens": ["Caf\xe9"], "tags": ["O"]}'),
        10,
        "rows.jsonl:4",
        "not UTF-8 (byte 31 of the line: b'\\xe9')",
    ),
    "row without tags": (jsonl_with(b'{"id": "doc-x", "tokens": ["a"]}'), 10, "rows.jsonl:4", "missing 'tokens'"),
    "brat text with a byte-order mark": (
        brat_with("1003", lambda text: "\ufeff" + text),
        11,
        "1003.ann:1",
        "byte-order mark (BOM)",
    ),
    "brat text with Windows line endings": (crlf_with_lf_offsets, 11, "1004.ann:1", "Windows line endings (CRLF)"),
}


def run_data(source: Path | str, out: Path) -> int:
    split = ["--validation-size", "2", "--test-size", "2"]
    return main(["data", "--data", str(source), "--output-dir", str(out), *split, "--quiet"])


@pytest.mark.parametrize("case", BAD_DATA)
def test_data_reports_a_bad_item_with_its_location_and_loads_the_rest(case, tmp_path, caplog):
    write, documents, location, message = BAD_DATA[case]
    assert run_data(write(tmp_path), tmp_path / "out") == 0
    summary = read_json(tmp_path / "out" / "data" / "summary.json")
    (error,) = summary["errors"]
    assert error["location"].endswith(location) and message in error["message"]
    assert summary["documents"] == documents
    assert len(read_lines(tmp_path / "out" / "data" / "documents.jsonl")) == documents
    assert any(location in line and message in line for line in error_lines(caplog))


def test_removed_duplicate_versions_are_not_counted_as_kept_entities(tmp_path, capsys):
    source = tmp_path / "rows.jsonl"
    rows = [{**row(n, version), "id": f"doc-{n}-{version}"} for n in range(10) for version in ("2018", "2020")]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run_data(source, tmp_path / "out") == 0
    summary = read_json(tmp_path / "out" / "data" / "summary.json")
    written = read_lines(tmp_path / "out" / "data" / "documents.jsonl")
    spans = sum(sum(tag.startswith("B-") for tag in document["tags"]) for document in written)
    assert (summary["documents"], summary["document_versions_removed"], spans) == (10, 10, 30)
    assert summary["entities_total"] == summary["entities_kept"] == 30
    assert "60 in source" not in capsys.readouterr().out


def test_repaired_orphan_i_tags_are_shown_on_the_console(tmp_path, capsys):
    source = tmp_path / "rows.jsonl"
    rows = [row(n) for n in range(10)]
    rows[3]["tags"][2] = "I-Sex"  # follows B-Age: an orphan
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert run_data(source, tmp_path / "out") == 0
    out = capsys.readouterr().out
    assert re.search(r"^repairs +1 orphan I- tags read as B- \(--strict makes them errors\)$", out, re.M)


# ---------------------------------------------------------------- stop at once: one line, exit code 2, nothing left


def test_a_mistyped_relative_data_path_is_not_tried_on_the_hub(tmp_path, monkeypatch, caplog):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    assert run_data("data/maccrobat", tmp_path / "out") == 2
    assert time.perf_counter() - started < 5
    assert error_lines(caplog) == ["data/maccrobat: no such file or folder (the folder data exists; a typo?)"]


def test_a_hub_dataset_that_cannot_be_reached_fails_after_one_request(tmp_path, monkeypatch, caplog):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # offline, the datasets cache is tried instead
    started = time.perf_counter()
    assert run_data("nobody-i15/no-such-set", tmp_path / "out") == 2
    assert time.perf_counter() - started < 15  # no minute of retries
    (line,) = error_lines(caplog)
    assert line.startswith("nobody-i15/no-such-set: no such file or folder, and as a Hugging Face dataset id")
    assert "--data PATH" in line and not (tmp_path / "out" / "data").exists()


@pytest.mark.parametrize("offline", [False, True], ids=["no network", "HF_HUB_OFFLINE"])
def test_a_hub_model_that_cannot_be_reached_fails_fast_with_the_alternatives_and_no_run_folder(
    offline, tmp_path, monkeypatch, caplog
):
    from huggingface_hub import constants, try_to_load_from_cache

    from pipeline.config import MODELS

    if isinstance(try_to_load_from_cache(MODELS["pubmedbert"], "config.json"), str):
        pytest.skip("pubmedbert is cached on this machine")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    started = time.perf_counter()
    assert main(["train", "--model", "pubmedbert", "--output-dir", str(tmp_path / "out"), "--quiet"]) == 2
    assert time.perf_counter() - started < 15
    (line,) = error_lines(caplog)
    assert line.startswith(f"model 'pubmedbert' ({MODELS['pubmedbert']}) is not in the local cache")
    assert ("HF_HUB_OFFLINE is set" in line) == offline
    for alternative in ("--model minilm", "--model FOLDER", f"hf download {MODELS['pubmedbert']}"):
        assert alternative in line
    assert "\n" not in line and not Outputs(tmp_path / "out").runs.exists()


def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    return make_fixture_run(tmp_path / "runs", "crf-20260101-000000", seed=1, model="crf"), make_fixture_run(
        tmp_path / "runs"
    )


@pytest.mark.parametrize(
    "stage, record",
    [("compare", "metrics.json"), ("analyze", "config.json"), ("compare", "predictions/test.jsonl")],
)
def test_a_truncated_record_is_named_with_its_path(stage, record, tmp_path, caplog):
    first, second = two_runs(tmp_path)
    broken = second / record
    broken.write_text(broken.read_text()[:150])
    runs = [str(first), str(second)] if stage == "compare" else ["--run", str(second)]
    assert main([stage, *runs, "--output-dir", str(tmp_path / "out"), "--quiet"]) == 2
    (line,) = error_lines(caplog)
    assert line.startswith(str(broken)) and "not valid JSON" in line


# ---------------------------------------------------------------- predict: every note once, errors retried


@pytest.fixture
def notes(tmp_path):
    def write(*rows: tuple[str, str] | bytes) -> Path:
        path = tmp_path / "notes.jsonl"
        path.write_bytes(
            b"".join(
                (r if isinstance(r, bytes) else json.dumps({"id": r[0], "text": r[1]}).encode()) + b"\n" for r in rows
            )
        )
        return path

    return write


def predict(run: Path, source: Path, output: Path) -> int:
    return main(["predict", "--run", str(run), "--input", str(source), "--output", str(output), "--quiet"])


def test_a_repeated_note_id_is_made_unique_and_said(tiny_run, notes, tmp_path, caplog):
    source = notes(("a", NOTE), ("x", NOTE), ("x", "Fever."), ("x", "Cough."))
    assert predict(tiny_run, source, tmp_path / "out.jsonl") == 0
    records = read_lines(tmp_path / "out.jsonl")
    assert [(r["id"], r.get("input_id")) for r in records] == [
        ("a", None),
        ("x", None),
        ("x#2", "x"),
        ("x#3", "x"),
    ]
    assert all("spans" in r for r in records)
    assert "2 note ids repeat" in caplog.text and "x#2, x#3" in caplog.text
    assert predict(tiny_run, source, tmp_path / "out.jsonl") == 0  # resumed: nothing twice
    assert len(read_lines(tmp_path / "out.jsonl")) == 4


def test_resume_retries_the_notes_whose_record_is_an_error(tiny_run, notes, tmp_path, capsys):
    output = tmp_path / "out.jsonl"
    assert predict(tiny_run, notes(("a", NOTE), ("b", "  "), ("c", NOTE)), output) == 0
    first = read_lines(output)
    assert "empty note" in first[1]["error"]
    assert predict(tiny_run, notes(("a", NOTE), ("b", NOTE), ("c", NOTE)), output) == 0
    records = {r["id"]: r for r in read_lines(output)}
    assert len(read_lines(output)) == 3 and "error" not in records["b"]
    assert records["b"]["spans"] == records["a"]["spans"]
    assert records["a"] == first[0] and records["c"] == first[2]  # kept, not predicted again
    assert "1 notes written (0 errors), 2 already done, 1 earlier errors retried" in capsys.readouterr().err


def test_a_jsonl_note_with_invalid_utf8_is_an_error_record_naming_its_line(tiny_run, notes, tmp_path):
    source = notes(("a", NOTE), b'{"id": "cafe", "text": "Caf\xe9 au lait"}', ("c", NOTE))
    assert predict(tiny_run, source, tmp_path / "out.jsonl") == 0
    records = read_lines(tmp_path / "out.jsonl")
    assert [r["id"] for r in records] == ["a", "cafe", "c"]
    assert records[1]["error"] == f"{source}:2: not UTF-8 (byte 27 of the line: b'\\xe9')"
    assert "spans" in records[0] and "spans" in records[2]


def test_predict_exits_3_when_every_note_failed_and_keeps_the_error_records(tiny_run, notes, tmp_path, caplog):
    assert predict(tiny_run, notes(("a", " "), b"{broken"), tmp_path / "out.jsonl") == 3
    assert [r["id"] for r in read_lines(tmp_path / "out.jsonl")] == ["a", "line-2"]
    assert "every note failed" in caplog.text


def test_a_failed_predict_leaves_no_output_file(tiny_run, tmp_path):
    assert predict(tiny_run, tmp_path / "absent.jsonl", tmp_path / "out.jsonl") == 2
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.slow
def test_predict_killed_then_rerun_writes_each_note_once_and_retries_its_errors(tiny_run, notes, tmp_path):
    rows = [(f"n{i}", NOTE * 5 if i % 50 else "") for i in range(200)]  # every 50th note is empty: an error
    source, output = notes(*rows), tmp_path / "out.jsonl"
    command = [sys.executable, "-m", "pipeline", "predict", "--run", str(tiny_run), "--input", str(source)]
    command += ["--output", str(output), "--quiet", "--batch-docs", "2"]
    process = subprocess.Popen(command, cwd=REPO)
    deadline = time.time() + 180
    while time.time() < deadline and (not output.exists() or output.read_text().count("\n") < 20):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 20 <= output.read_text().count("\n") < 200  # killed part-way
    assert subprocess.run(command, cwd=REPO).returncode == 0
    counts = Counter(r["id"] for r in read_lines(output))
    assert set(counts) == {note_id for note_id, _ in rows} and set(counts.values()) == {1}
    assert sum("error" in r for r in read_lines(output)) == 4


# ---------------------------------------------------------------- files and the outputs/ lock


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_written_files_get_the_mode_of_a_new_file_under_the_umask(umask, mode, tmp_path):
    previous = os.umask(umask)
    try:
        path = write_json(tmp_path / "record.json", {"a": 1})
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == mode


HOLD_LOCK = "import sys, time; from pipeline.core.layout import locked_outputs\n" + (
    "with locked_outputs(sys.argv[1], 'all'):\n    print('held', flush=True); time.sleep(120)"
)


def test_a_second_writer_of_one_outputs_folder_is_refused_and_a_dead_holder_is_taken_over(tmp_path, caplog):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert main(["all", "--output-dir", str(out), "--quiet"]) == 2
        (line,) = error_lines(caplog)
        assert line.startswith(f"{out} is in use by pid {holder.pid} (`all`) since 20")
        assert sorted(p.name for p in out.iterdir()) == [".lock"]  # the refused `all` wrote nothing
    finally:
        holder.kill()
        holder.wait()
    caplog.clear()
    with caplog.at_level(logging.INFO), locked_outputs(out, "data"):
        assert f"pid {os.getpid()} (`data`)" in Outputs(out).lock.read_text()
    assert f"took over the lock of pid {holder.pid} (`all`)" in caplog.text
    assert Outputs(out).lock.read_text() == ""  # released


# ---------------------------------------------------------------- killed training and `all`


def test_a_killed_training_run_is_not_picked_up_by_later_stages(tmp_path, caplog):
    out = tmp_path / "out"
    finished = make_fixture_run(out / "runs", "minilm-20260101-000000")
    killed = make_fixture_run(out / "runs", "minilm-20260102-000000")
    (killed / "metrics.json").unlink()  # what a kill -9 before the end of `train` leaves
    assert latest_run(out, "minilm") == finished
    assert main(["analyze", "--run", "minilm", "--output-dir", str(out), "--quiet", "--resamples", "10"]) == 0
    assert (finished / "analysis" / "analysis.json").exists() and not (killed / "analysis").exists()


ALL_SCRIPT = """
import sys
from pipeline.config import PipelineConfig
from pipeline.stages import run_all
brat, model, out = sys.argv[1:]
config = PipelineConfig(data=brat, models=[model], output_dir=out, leak=False)
overrides = {
    "DataConfig": {"validation_size": 0.2, "test_size": 0.2},
    "TrainConfig": {"epochs": 1, "wandb": False, "max_length": 64, "stride": 16},
    "CRFConfig": {"wandb": False, "max_iterations": 5},
}
for record in run_all(config, "cpu", progress=False, overrides=overrides):
    print(record.name, record.cached, flush=True)
"""


@pytest.mark.slow
def test_all_killed_mid_training_then_rerun_reuses_finished_stages_and_writes_each_run_once(tmp_path):
    from conftest import save_tiny_model

    brat = synthetic_brat_folder(tmp_path / "brat", documents=40)
    model, out = save_tiny_model(tmp_path / "tiny"), tmp_path / "out"
    command = [sys.executable, "-c", ALL_SCRIPT, str(brat), str(model), str(out)]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not (Outputs(out).stage("data").exists() and list(Outputs(out).runs.glob("*"))):
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert Outputs(out).stage("data").exists() and not Outputs(out).stage("report").exists()
    rerun = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    cached = dict(line.split() for line in rerun.stdout.splitlines() if re.fullmatch(r"\S+ (True|False)", line))
    assert cached["data"] == "True" and cached["report"] == "False"
    finished = sorted(
        run.name.rsplit("-", 2)[0] for run in Outputs(out).runs.iterdir() if (run / "metrics.json").exists()
    )
    assert finished == [
        "combined",
        "crf",
        "tiny",
        "tiny-truncate",
    ]  # each run finished once; a killed one has no metrics
    analysed = [read_json(Outputs(out).stage(f"analyze-{name}"))["outputs"] for name in finished]
    assert all(Path(next(iter(outputs.values()))).exists() for outputs in analysed)


@pytest.mark.slow
def test_train_quiet_prints_no_trainer_log_dictionaries(tmp_path, tiny_model_dir):
    from pipeline.config import DataConfig
    from pipeline.data.prepare import prepare_data
    from pipeline.modeling.features import length_measure

    config = DataConfig(
        data=str(synthetic_brat_folder(tmp_path / "brat")),
        output_dir=str(tmp_path / "out"),
        validation_size=2,
        test_size=2,
    )
    prepare_data(config, length_measure(config), progress=False)
    flags = ["--lr", "5e-3", "--epochs", "2", "--batch-size", "4", "--max-length", "32", "--stride", "8"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "train",
            "--model",
            str(tiny_model_dir),
            "--output-dir",
            str(tmp_path / "out"),
            *flags,
            "--no-wandb",
            "--quiet",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "run directory:" in result.stdout
    assert "'loss'" not in result.stdout + result.stderr and "'eval_f1'" not in result.stdout + result.stderr
