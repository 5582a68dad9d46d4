"""Bad input and faults, stage by stage: the message, the exit code, and that nothing good is lost.

Each table row is one class of bad input. A stage either reports the bad item (file and line, or note
id) and carries on with the rest, or stops at once with one line and exit code 2 (3: `predict` read
notes but could not predict one). Kill -9 and rerun leaves every result written exactly once.
"""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import re
import shutil
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
from pipeline.core.errors import FileSystemError
from pipeline.core.files import file_system_error, read_json, write_json
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

    from pipeline.modeling.registry import MODELS

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
from pipeline.stages.runner import run_all
brat, model, out = sys.argv[1:]
config = PipelineConfig(data=brat, models=[model], output_dir=out, leak=False)
overrides = {
    "DataConfig": {"validation_size": 0.2, "test_size": 0.2},
    "TrainConfig": {"epochs": 1, "wandb": False, "max_length": 64, "overlap": 16},
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
    flags = ["--lr", "5e-3", "--epochs", "2", "--batch-size", "4", "--max-length", "32", "--overlap", "8"]
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


# ---------------------------------------------------------------- impossible settings: refused before anything is read

IMPOSSIBLE = {
    # case: (the command without --output-dir, its one line); `nope` runs and notes do not exist: the setting
    # is refused before a run, a note, the prepared data or a model is looked for
    "train --batch-size 0": (["train", "--batch-size", "0"], "--batch-size 0 is out of range: allowed >= 1"),
    "train --lr -1": (["train", "--lr", "-1"], "--lr -1.0 is out of range: allowed > 0 (each value)"),
    "train --lr 2e-5,0": (["train", "--lr", "2e-5,0"], "--lr 0.0 is out of range: allowed > 0 (each value)"),
    "train --epochs 0": (["train", "--epochs", "0"], "--epochs 0 is out of range: allowed >= 1"),
    "train --patience 0": (["train", "--patience", "0"], "--patience 0 is out of range: allowed >= 1"),
    "train --overlap 64 --max-length 64": (
        ["train", "--overlap", "64", "--max-length", "64"],
        "--overlap 64 is out of range: allowed >= 0 and < --max-length (64)",
    ),
    "train --max-length 32 (the profile's overlap 64)": (
        ["train", "--max-length", "32"],
        "--overlap 64 is out of range: allowed >= 0 and < --max-length (32)",
    ),
    "train --model crf --c1 -0.1": (
        ["train", "--model", "crf", "--c1", "-0.1"],
        "--c1 -0.1 is out of range: allowed >= 0 (each value)",
    ),
    "data --validation-size -1": (
        ["data", "--data", "nope", "--validation-size", "-1"],
        "--validation-size -1.0 is out of range: allowed >= 0",
    ),
    "predict --threshold 1.5": (
        ["predict", "--run", "nope", "--input", "nope.jsonl", "--threshold", "1.5"],
        "--threshold 1.5 is out of range: allowed in [0, 1]",
    ),
    "predict --batch-docs 0": (
        ["predict", "--run", "nope", "--input", "nope.jsonl", "--batch-docs", "0"],
        "--batch-docs 0 is out of range: allowed >= 1",
    ),
    "bench --rounds 0": (["bench", "--run", "nope", "--rounds", "0"], "--rounds 0 is out of range: allowed >= 1"),
    "analyze --thresholds 0.5,2": (
        ["analyze", "--run", "nope", "--thresholds", "0.5,2"],
        "--thresholds 2.0 is out of range: allowed in [0, 1] (each value)",
    ),
    "compare --resamples 0": (["compare", "nope", "--resamples", "0"], "--resamples 0 is out of range: allowed >= 1"),
    "combine --weights 0.5,1.5": (
        ["combine", "--weights", "0.5,1.5"],
        "--weights 1.5 is out of range: allowed in [0, 1] (each value)",
    ),
}


@pytest.mark.parametrize("case", IMPOSSIBLE)
def test_an_impossible_setting_is_one_line_naming_the_flag_the_value_and_the_range(case, tmp_path, caplog):
    argv, line = IMPOSSIBLE[case]
    out = tmp_path / "out"  # no prepared data, no run: neither is read before the settings are checked
    assert main([*argv, "--output-dir", str(out), "--quiet"]) == 2
    assert error_lines(caplog) == [line]
    assert all(record.exc_info is None for record in caplog.records)
    assert not (out / "runs").exists() and not (out / "data").exists()


# ---------------------------------------------------------------- model and run folders checked before loading

SAVED_MODEL = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def model_folder(tmp_path: Path, source: Path, keep: tuple[str, ...]) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    for name in keep:
        shutil.copy(source / name, folder / name)
    return folder


WEIGHTS = "weights (model.safetensors or pytorch_model.bin)"
TOKENIZER = "tokenizer files (tokenizer.json or vocab.txt)"


@pytest.mark.parametrize(
    "keep, missing",
    [
        ((), f"config.json (the model's config), {WEIGHTS}, {TOKENIZER}"),
        (("config.json", "model.safetensors"), TOKENIZER),
        (("config.json", "tokenizer.json", "tokenizer_config.json"), WEIGHTS),
    ],
    ids=["empty", "no tokenizer files", "no weights"],
)
def test_train_names_every_file_a_model_folder_lacks_before_a_run_folder_exists(
    keep, missing, tiny_model_dir, tmp_path, caplog
):
    folder = model_folder(tmp_path, tiny_model_dir, keep)
    out = tmp_path / "out"
    assert main(["train", "--model", str(folder), "--output-dir", str(out), "--quiet"]) == 2
    (line,) = error_lines(caplog)
    assert line.startswith(f"--model {folder} is not a saved model, missing {missing}: give a folder that")
    assert f"`hf download <model id> --local-dir {folder}`" in line and "`python -m pipeline train`" in line
    assert not Outputs(out).runs.exists()


def test_train_given_a_run_folder_as_model_names_the_model_inside_it(tiny_run, tmp_path, caplog):
    assert main(["train", "--model", str(tiny_run), "--output-dir", str(tmp_path / "out"), "--quiet"]) == 2
    assert error_lines(caplog) == [f"--model {tiny_run} is a run folder; its saved model is --model {tiny_run}/model"]


@pytest.mark.parametrize(
    "removed, finished, found",
    [
        (["model/model.safetensors"], True, f"is incomplete, missing {WEIGHTS}"),
        (
            ["model/tags.json", "model/tokenizer.json"],
            True,
            f"is incomplete, missing {TOKENIZER}, tags.json (the tag map)",
        ),
        (["model", "metrics.json"], False, "does not exist"),
    ],
    ids=["no weights", "no tokenizer or tag map", "unfinished run"],
)
def test_predict_names_what_a_run_folder_lacks_and_the_command_that_makes_it(
    removed, finished, found, tiny_run, notes, tmp_path, caplog
):
    run = Path(shutil.copytree(tiny_run, tmp_path / "runs" / "minilm-20260101-000000"))
    for name in removed:
        shutil.rmtree(run / name) if (run / name).is_dir() else (run / name).unlink()
    output = tmp_path / "out.jsonl"
    assert predict(run, notes(("a", NOTE)), output) == 2
    fix = (
        f"train the run again (its settings are in {run}/config.json)"
        if finished
        else f"the run did not finish: `python -m pipeline train --resume {run}` continues it"
    )
    assert error_lines(caplog) == [f"{run}/model {found}: `python -m pipeline train` makes it; {fix}"]
    assert not output.exists()


# ---------------------------------------------------------------- the machine refuses a write: one line, nothing half-written

REAL_FSYNC = os.fsync


def disk_full_from(write: int):
    """An `os.fsync` (the last step of every atomic write) that fails as a disk that fills up at the
    `write`-th atomic write."""
    calls = itertools.count(1)

    def fsync(fd: int) -> None:
        if next(calls) >= write:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        REAL_FSYNC(fd)

    return fsync


@pytest.mark.parametrize(
    "code, message",
    [
        (
            errno.ENOSPC,
            "/o/x.json: no space left on the device (ENOSPC); free space on that disk (or write somewhere else)",
        ),
        (errno.EROFS, "/o/x.json: the file system is read-only (EROFS); write somewhere else"),
        (errno.EACCES, "/o/x.json: permission denied (EACCES); write somewhere else, or make it writable"),
        (errno.EISDIR, "/o/x.json: a folder where a file is expected (EISDIR); give the path of a file"),
    ],
)
def test_a_refusal_of_the_machine_behind_any_error_is_one_line_with_the_path_the_cause_and_the_fix(code, message):
    wrapped = RuntimeError("a library's own error")
    wrapped.__cause__ = OSError(code, os.strerror(code), "/o/x.json")
    assert str(file_system_error(wrapped)) == message


@pytest.mark.parametrize(
    "error", [OSError(errno.ENOENT, "No such file or directory", "/o/x.json"), ValueError("a bug")], ids=str
)
def test_an_error_the_machine_did_not_cause_is_left_as_it_is(error):
    assert file_system_error(error) is None


def test_a_refused_rewrite_keeps_the_previous_file_whole_and_no_temporary_file(tmp_path, monkeypatch):
    path = write_json(tmp_path / "record.json", {"version": 1})
    monkeypatch.setattr(os, "fsync", disk_full_from(1))
    with pytest.raises(FileSystemError, match=rf"^{re.escape(str(path))}: no space left on the device \(ENOSPC\)"):
        write_json(path, {"version": 2})
    assert read_json(path) == {"version": 1} and list(tmp_path.iterdir()) == [path]


def test_data_on_a_disk_that_fills_up_names_the_file_leaves_whole_files_and_reruns(tmp_path, monkeypatch, caplog):
    source, out = synthetic_brat_folder(tmp_path / "brat"), tmp_path / "out"
    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", disk_full_from(3))  # documents.jsonl and split.json fit, tags.json does not
        assert run_data(source, out) == 2
    command = f"python -m pipeline data --data {source} --output-dir {out} --validation-size 2 --test-size 2 --quiet"
    assert error_lines(caplog) == [
        f"{out}/data/tags.json: no space left on the device (ENOSPC); free space on that disk (or write somewhere "
        f"else), then resume with `{command}`"
    ]
    assert sorted(p.name for p in Outputs(out).data.iterdir()) == ["documents.jsonl", "split.json"]
    assert len(read_lines(Outputs(out).documents)) == 12  # whole
    assert Outputs(out).lock.read_text() == ""
    assert run_data(source, out) == 0 and read_json(Outputs(out).summary)["documents"] == 12


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_output_folder_that_is_a_file_or_lies_under_one_is_named(where, tmp_path, caplog):
    blocking = tmp_path / "taken"
    blocking.write_text("not a folder")
    out = blocking if where == "a file" else blocking / "out"
    assert run_data(synthetic_brat_folder(tmp_path / "brat"), out) == 2
    (line,) = error_lines(caplog)
    cause = "a file, not a folder (EEXIST)" if where == "a file" else f"{blocking} is a file, not a folder (ENOTDIR)"
    assert line.startswith(f"{out}: {cause}; move that file or write somewhere else, then resume with `")
    assert blocking.read_text() == "not a folder"


def test_predict_on_a_disk_that_fills_up_keeps_every_note_written_and_resumes(
    tiny_run, notes, tmp_path, monkeypatch, caplog
):
    import pipeline.serving.predict

    source, output = notes(*[(f"n{i}", NOTE) for i in range(6)]), tmp_path / "out.jsonl"
    write_line, written = pipeline.serving.predict.write_line, []

    def fills_up(handle, record):
        if len(written) == 3:  # the 4th record: half of it reaches the disk
            handle.write(json.dumps(record)[:40])
            handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(record)
        write_line(handle, record)

    with monkeypatch.context() as patched:
        patched.setattr(pipeline.serving.predict, "write_line", fills_up)
        assert predict(tiny_run, source, output) == 2
    command = f"python -m pipeline predict --run {tiny_run} --input {source} --output {output} --quiet"
    assert error_lines(caplog) == [
        f"{output}: no space left on the device (ENOSPC); free space on that disk (or write somewhere else), then "
        f"resume with `{command}` (the 3 notes written are kept)"
    ]
    assert read_lines(output) == written  # the half-written 4th line is cut off
    assert predict(tiny_run, source, output) == 0
    records = read_lines(output)
    assert [r["id"] for r in records] == [f"n{i}" for i in range(6)] and records[:3] == written


@pytest.mark.parametrize("where", ["a folder", "under a file"])
def test_a_predict_output_that_cannot_be_a_file_is_refused_before_the_model_loads(
    where, tiny_run, notes, tmp_path, monkeypatch, caplog
):
    import pipeline.serving.predict

    def never(*args):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(pipeline.serving.predict, "load_predictor", never)
    (tmp_path / "taken").write_text("a file")
    output = tmp_path if where == "a folder" else tmp_path / "taken" / "out.jsonl"
    assert predict(tiny_run, notes(("a", NOTE)), output) == 2
    (line,) = error_lines(caplog)
    if where == "a folder":
        assert line == f"--output {tmp_path} is a folder; give a file, e.g. {tmp_path}/predictions.jsonl"
    else:
        assert line.startswith(f"{output}: {tmp_path / 'taken'} is a file, not a folder")


# ---------------------------------------------------------------- Ctrl-C: one line, exit 130, the lock released


def test_ctrl_c_in_predict_keeps_the_notes_written_and_says_how_to_resume(
    tiny_run, notes, tmp_path, monkeypatch, caplog
):
    import pipeline.serving.predict

    source, output = notes(*[(f"n{i}", NOTE) for i in range(5)]), tmp_path / "out.jsonl"
    write_line, written = pipeline.serving.predict.write_line, []

    def interrupted(handle, record):
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(record)
        write_line(handle, record)

    with monkeypatch.context() as patched:
        patched.setattr(pipeline.serving.predict, "write_line", interrupted)
        assert predict(tiny_run, source, output) == 130
    command = f"python -m pipeline predict --run {tiny_run} --input {source} --output {output} --quiet"
    assert error_lines(caplog) == [f"interrupted; resume with `{command}` (the 2 notes written are kept)"]
    assert read_lines(output) == written
    assert predict(tiny_run, source, output) == 0
    assert [r["id"] for r in read_lines(output)] == [f"n{i}" for i in range(5)]


def test_ctrl_c_in_data_releases_the_lock_and_leaves_no_partial_file(tmp_path, monkeypatch, caplog):
    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    source, out = synthetic_brat_folder(tmp_path / "brat"), tmp_path / "out"
    monkeypatch.setattr(os, "fsync", interrupted)
    assert run_data(source, out) == 130
    command = f"python -m pipeline data --data {source} --output-dir {out} --validation-size 2 --test-size 2 --quiet"
    assert error_lines(caplog) == [f"interrupted; resume with `{command}`"]
    assert list(Outputs(out).data.iterdir()) == [] and Outputs(out).lock.read_text() == ""


def test_ctrl_c_in_train_with_seeds_names_the_started_run_and_the_seeds_not_started(tmp_path, monkeypatch, caplog):
    import pipeline.training.train

    runs = tmp_path / "out" / "runs"
    runs.mkdir(parents=True)
    (runs / "tiny-20251231-000000").mkdir()  # unfinished, but by an earlier command: not the one to resume

    def interrupted(config):
        make_fixture_run(runs, "minilm-seed42-20260101-000000")  # finished
        (runs / "minilm-seed43-20260101-000100").mkdir()  # training when Ctrl-C came
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.training.train, "train_seeds", interrupted)
    assert main(["train", "--seeds", "42,43,44,45", "--output-dir", str(tmp_path / "out"), "--quiet"]) == 130
    assert error_lines(caplog) == [
        f"interrupted; resume with `python -m pipeline train --resume {runs}/minilm-seed43-20260101-000100` (from "
        "its last checkpoint); then `--seeds 44,45` trains the seeds not started"
    ]


def test_ctrl_c_in_all_says_the_finished_stages_are_reused(tmp_path, monkeypatch, caplog):
    import pipeline.data.prepare

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.data.prepare, "prepare_data", interrupted)
    source, out = synthetic_brat_folder(tmp_path / "brat"), tmp_path / "out"
    assert main(["all", "--data", str(source), "--output-dir", str(out), "--quiet"]) == 130
    command = f"python -m pipeline all --data {source} --output-dir {out} --quiet"
    assert error_lines(caplog) == [f"interrupted; resume with `{command}` (finished stages are reused)"]
    assert Outputs(out).lock.read_text() == "" and not Outputs(out).stages.exists()


# ---------------------------------------------------------------- messages name the real --output-dir


def test_report_without_a_comparison_names_it_under_the_output_dir_and_runs_no_notebook(tmp_path, caplog):
    out = tmp_path / "elsewhere"
    first, second = two_runs(out)
    assert main(["report", "--output-dir", str(out), "--runs", f"{first.name},{second.name}", "--quiet"]) == 2
    assert error_lines(caplog) == [
        f"no decision matrix in {out}/comparison/comparison.json: run "
        f"`python -m pipeline compare {first.name} {second.name} --output-dir {out}`"
    ]
    assert not Outputs(out).report.exists()


# ---------------------------------------------------------------- train stopped: the run resumes from its last checkpoint

TINY_TRAINING = [
    "--lr",
    "5e-3",
    "--epochs",
    "4",
    "--patience",
    "4",
    "--batch-size",
    "4",
    "--max-length",
    "32",
    "--overlap",
    "8",
]


def prepared_outputs(tmp_path: Path) -> Path:
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
    return tmp_path / "out"


def train_command(model: Path, out: Path) -> list[str]:
    flags = [*TINY_TRAINING, "--no-wandb", "--quiet"]
    return [sys.executable, "-m", "pipeline", "train", "--model", str(model), "--output-dir", str(out), *flags]


def assert_stopped_run_resumes(out: Path, console: str, line: str) -> None:
    """`console` holds `line` and no traceback; the run's checkpoints are all whole, and the command the line
    gives finishes the same run from the last of them."""
    (run,) = Outputs(out).runs.iterdir()
    assert f"ERROR pipeline: {line.format(run=run)}\n" in console and "Traceback" not in console
    assert not (run / "metrics.json").exists() and Outputs(out).lock.read_text() == ""
    checkpoints = list(run.glob("trials/*/checkpoints/checkpoint-*"))
    assert all((checkpoint / "trainer_state.json").exists() for checkpoint in checkpoints)
    resume = re.search(r"resume with `python -m pipeline (train --resume \S+)`", console)
    assert resume is not None
    rerun = subprocess.run(
        [sys.executable, "-m", "pipeline", *resume.group(1).split()], cwd=REPO, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    if checkpoints:
        assert f"resuming from {max(checkpoints, key=lambda p: int(p.name.split('-')[1]))}" in rerun.stderr
    assert (run / "metrics.json").exists() and list(Outputs(out).runs.iterdir()) == [run]


@pytest.mark.slow
def test_ctrl_c_in_train_prints_the_resume_command_that_continues_from_the_last_checkpoint(tmp_path, tiny_model_dir):
    out = prepared_outputs(tmp_path)
    process = subprocess.Popen(
        train_command(tiny_model_dir, out),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Ctrl-C reaches a command run from a terminal; a suite started in the background (`make test &`)
        # has SIGINT ignored, which its children would inherit, and Python then never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stdout is not None
    console = ""
    for line in process.stdout:
        console += line
        if line.startswith("epoch 2:"):
            process.send_signal(signal.SIGINT)
            break
    console += process.communicate(timeout=300)[0]
    assert process.returncode == 130
    assert_stopped_run_resumes(
        out, console, "interrupted; resume with `python -m pipeline train --resume {run}` (from its last checkpoint)"
    )


@pytest.mark.slow
def test_a_checkpoint_the_file_system_refuses_is_one_line_removed_and_resumed(tmp_path, tiny_model_dir):
    import resource

    out = prepared_outputs(tmp_path)
    limit = 256 * 1024  # bytes per file: the run's config fits, the checkpoint's weights do not (torch and
    # safetensors then fail without an errno; the probe finds the refusal)
    result = subprocess.run(
        train_command(tiny_model_dir, out),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )
    assert result.returncode == 2
    assert_stopped_run_resumes(
        out,
        result.stderr,
        "{run}/trials/lr-0.005/checkpoints: the file is larger than the file-size limit (ulimit -f) or the file "
        "system allows (EFBIG); raise the limit or write somewhere else, then resume with "
        "`python -m pipeline train --resume {run}` (from its last checkpoint)",
    )
