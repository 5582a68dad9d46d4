"""predict: raw notes in, character-offset spans out; bad notes, resuming, streaming and 2 processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

from pipeline.cli import main
from pipeline.config import AnalysisConfig
from pipeline.core.layout import read_record, write_record
from pipeline.core.tags import spans_from_tags
from pipeline.data.brat import read_brat_folder
from pipeline.evaluation.analyze import analyze_run
from pipeline.serving.predict import segments

NOTE = "A 45-year-old woman had fever and chest pain. Aspirin 5 mg was given."
# 19 words: A 45 - year - old woman had fever and chest pain . Aspirin 5 mg was given .


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def predict(tiny_run: Path, source: str | Path, output: str | Path, *flags: str) -> int:
    return main(["predict", "--run", str(tiny_run), "--input", str(source), "--output", str(output), "--quiet", *flags])


def command(tiny_run: Path, source: Path, output: Path, *flags: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipeline",
        "predict",
        "--run",
        str(tiny_run),
        "--input",
        str(source),
        "--output",
        str(output),
        "--quiet",
        *flags,
    ]


@pytest.fixture
def notes_jsonl(tmp_path) -> Path:
    path = tmp_path / "notes.jsonl"
    path.write_text("".join(json.dumps({"id": f"n{i}", "text": f"Note {i}. {NOTE}"}) + "\n" for i in range(12)))
    return path


def test_a_folder_gives_one_record_per_file_and_bad_files_become_error_records(tiny_run, tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text(NOTE, encoding="utf-8")
    (folder / "b.txt").write_bytes(b"")
    (folder / "c.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (folder / "d.txt").write_bytes("fi\u00e8vre".encode("latin-1"))
    assert predict(tiny_run, folder, tmp_path / "out.jsonl") == 0
    records = {r["id"]: r for r in read_lines(tmp_path / "out.jsonl")}
    assert list(records) == ["a", "b", "c", "d"]
    assert "empty note" in records["b"]["error"] and "b.txt" in records["b"]["error"]
    assert "binary" in records["c"]["error"]
    assert "not UTF-8 (byte 2" in records["d"]["error"]
    assert records["a"]["words"] == 19 and records["a"]["spans"]  # a random tiny model tags plenty
    for span in records["a"]["spans"]:
        assert NOTE[span["start"] : span["end"]] == span["text"] and 0 < span["confidence"] <= 1


def spans_in(path: Path) -> list[dict]:
    return [span for record in read_lines(path) for span in record["spans"]]


def run_with_policy(tiny_run: Path, folder: Path, types: dict[str, tuple[float | None, str]]) -> Path:
    """A copy of the tiny run with a policy.json giving each type (threshold, source)."""
    run_dir = Path(shutil.copytree(tiny_run, folder / tiny_run.name))
    entries = {name: {"threshold": t, "source": source, "reason": "set by hand"} for name, (t, source) in types.items()}
    always = sorted(name for name, (t, _) in types.items() if t is None)
    write_record(
        run_dir / "policy.json", "policy", {"chosen_on": "validation", "types": entries, "always_review": always}
    )
    return run_dir


# the tiny random model's span confidences lie between 0.06 and 0.1
HAND_POLICY = {
    "Age": (0.0, "type"),
    "Height": (None, "type"),
    "Medication": (0.08, "pooled"),
    "Disease_disorder": (0.08, "pooled"),
    "Therapeutic_procedure": (0.08, "pooled"),
    "Lab_value": (0.08, "pooled"),
    "Sign_symptom": (0.08, "pooled"),
}


def test_predict_marks_each_span_auto_or_review_by_the_runs_policy_and_says_why(
    tiny_run, notes_jsonl, tmp_path, caplog
):
    run_dir = run_with_policy(tiny_run, tmp_path, HAND_POLICY)
    with caplog.at_level("INFO"):
        assert predict(run_dir, notes_jsonl, tmp_path / "out.jsonl") == 0
    assert (
        f"the deployment policy of {run_dir.name} (policy.json, chosen on validation): 6 of 7 types auto-coded at "
        "their thresholds, 1 always reviewed"
    ) in caplog.text
    spans = spans_in(tmp_path / "out.jsonl")
    for span in spans:
        threshold, source = HAND_POLICY[span["type"]]
        if threshold is None:
            expected = ("review", "always-review type")
        else:
            whose = "its type's threshold" if source == "type" else "the pooled threshold of low-support types"
            above = span["confidence"] >= threshold
            expected = (
                ("auto", f"at or above {whose} {threshold:g}") if above else ("review", f"below {whose} {threshold:g}")
            )
        assert (span["decision"], span["reason"]) == expected
    reasons = {span["reason"] for span in spans}
    assert {
        "always-review type",
        "at or above its type's threshold 0",
        "below the pooled threshold of low-support types 0.08",
    } <= reasons
    assert "at or above the pooled threshold of low-support types 0.08" in reasons


def test_predict_applies_the_policy_that_analyze_chose_for_the_run(tiny_run, notes_jsonl, tmp_path):
    run_dir = Path(shutil.copytree(tiny_run, tmp_path / tiny_run.name))
    analyze_run(run_dir, AnalysisConfig(resamples=50, figures=False, policy_min_support=5))
    policy = read_record(run_dir / "policy.json", "policy")
    assert predict(run_dir, notes_jsonl, tmp_path / "out.jsonl") == 0
    spans = spans_in(tmp_path / "out.jsonl")
    assert spans
    for span in spans:  # the tiny random model is never confident: each span falls below its type's threshold
        entry = policy["types"][span["type"]]
        if entry["threshold"] is None:
            assert (span["decision"], span["reason"]) == ("review", "always-review type")
        else:
            assert span["confidence"] < entry["threshold"] and span["decision"] == "review"
            assert span["reason"].startswith("below ") and span["reason"].endswith(f" {entry['threshold']:g}")


def test_threshold_overrides_the_policy_for_every_type_and_says_so(tiny_run, notes_jsonl, tmp_path, caplog):
    run_dir = run_with_policy(tiny_run, tmp_path, HAND_POLICY)
    with caplog.at_level("INFO"):
        predict(run_dir, notes_jsonl, tmp_path / "all.jsonl", "--threshold", "1")
    assert "--threshold 1 for every type; the run's deployment policy (policy.json) is not applied" in caplog.text
    predict(run_dir, notes_jsonl, tmp_path / "none.jsonl", "--threshold", "0")
    reviewed, automatic = spans_in(tmp_path / "all.jsonl"), spans_in(tmp_path / "none.jsonl")
    assert reviewed and {(s["decision"], s["reason"]) for s in reviewed} == {
        ("review", "below the --threshold 1 (policy not applied)")
    }
    assert {(s["decision"], s["reason"]) for s in automatic} == {
        ("auto", "at or above the --threshold 0 (policy not applied)")
    }


def test_a_run_without_a_policy_sends_every_span_to_review_with_a_warning(tiny_run, notes_jsonl, tmp_path, caplog):
    predict(tiny_run, notes_jsonl, tmp_path / "out.jsonl")
    assert f"{tiny_run.name} has no deployment policy (policy.json): every span goes to review" in caplog.text
    assert {(s["decision"], s["reason"]) for s in spans_in(tmp_path / "out.jsonl")} == {
        ("review", "no deployment policy for this run")
    }


def test_the_review_queue_holds_every_note_with_a_span_to_review_and_reads_back_with_every_span(tiny_run, tmp_path):
    run_dir = run_with_policy(tiny_run, tmp_path, HAND_POLICY)
    notes = {
        "multi": "Fever of 39\u00b0C.\n\nChest pain;\nthe patient, a 45-year-old \u00e9l\u00e8ve, had cough.",
        "crlf": "Aspirin 5 mg\r\nwas given.\r\nNo rash.",
        "short": "Age",
    }
    source = tmp_path / "notes.jsonl"
    source.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in notes.items()), encoding="utf-8")
    queue = tmp_path / "queue"
    assert predict(run_dir, source, tmp_path / "out.jsonl", "--review-brat", str(queue)) == 0
    records = {r["id"]: r for r in read_lines(tmp_path / "out.jsonl")}
    queued = sorted(i for i, r in records.items() if any(s["decision"] == "review" for s in r["spans"]))
    assert queued == ["crlf", "multi"]  # "short": one span, an Age, auto-coded at 0
    assert sorted(p.name for p in queue.iterdir()) == [
        "annotation.conf",
        "crlf.ann",
        "crlf.txt",
        "multi.ann",
        "multi.txt",
    ]
    assert (queue / "annotation.conf").read_text().splitlines()[:3] == ["[entities]", "Age", "Disease_disorder"]
    read = read_brat_folder(queue, progress=False)
    assert read.errors == []
    for document in read.documents:
        assert document.text == notes[document.id]  # CRLF and all: the offsets are predict's
        spans = [
            (document.offsets[span.start][0], document.offsets[span.end - 1][1], span.type)
            for span in spans_from_tags(document.tags)
        ]
        assert spans == [(s["start"], s["end"], s["type"]) for s in records[document.id]["spans"]]
    ann = (queue / "multi.ann").read_text(encoding="utf-8")
    first = records["multi"]["spans"][0]
    assert (
        f"#1\tAnnotatorNotes T1\t{first['decision']}: {first['reason']}; confidence {first['confidence']:.4f}\n" in ann
    )


def test_predict_runs_at_the_batch_size_bench_chose_and_an_explicit_batch_size_wins(
    tiny_run, notes_jsonl, tmp_path, capsys
):
    run_dir = tmp_path / "minilm-20260101-000000"
    shutil.copytree(tiny_run, run_dir)
    chosen = {"label": "fp32 24/4", "variant": "fp32", "max_length": 24, "overlap": 4, "batch_size": 2}
    write_record(run_dir / "bench.json", "bench", {"kind": "transformer", "summary": {"chosen": chosen}})
    assert predict(run_dir, notes_jsonl, tmp_path / "bench.jsonl") == 0
    assert (
        "predict: minilm-20260101-000000 as fp32 (bench's choice, bench.json summary.chosen), windows --max-length 24 --overlap 4, "
        + ("2 windows per forward pass (bench's choice)")
        in capsys.readouterr().err
    )
    assert predict(run_dir, notes_jsonl, tmp_path / "flag.jsonl", "--batch-size", "5") == 0
    assert "windows --max-length 24 --overlap 4, 5 windows per forward pass (--batch-size)" in capsys.readouterr().err
    assert predict(run_dir, notes_jsonl, tmp_path / "int8.jsonl", "--variant", "int8") == 0
    assert (
        "as int8 (given or default), windows --max-length 24 --overlap 6, 8 windows per forward pass (default)"
        in capsys.readouterr().err
    )
    assert read_lines(tmp_path / "flag.jsonl") == read_lines(tmp_path / "bench.jsonl")  # batching changes no span


def test_restart_skips_done_notes_and_drops_a_half_written_line(tiny_run, notes_jsonl, tmp_path):
    output = tmp_path / "out.jsonl"
    predict(tiny_run, notes_jsonl, output)
    complete = read_lines(output)
    output.write_text("".join(json.dumps(r) + "\n" for r in complete[:5]) + '{"id": "n5", "wor')
    predict(tiny_run, notes_jsonl, output)
    assert read_lines(output) == complete  # n0-n4 kept, the torn n5 line replaced, n5-n11 added once


@pytest.mark.slow
def test_killed_mid_batch_then_rerun_writes_every_note_exactly_once(tiny_run, tmp_path):
    source, output = tmp_path / "many.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"id": f"n{i}", "text": NOTE * 20}) + "\n" for i in range(300)))
    process = subprocess.Popen(command(tiny_run, source, output, "--batch-docs", "2"), cwd=REPO)
    deadline = time.time() + 60
    while time.time() < deadline and (not output.exists() or output.read_text().count("\n") < 4):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = output.read_text().count("\n")
    assert 4 <= written < 300  # killed part-way
    subprocess.run(command(tiny_run, source, output), cwd=REPO, check=True)
    assert [r["id"] for r in read_lines(output)] == [f"n{i}" for i in range(300)]


def test_streaming_from_stdin_flushes_the_same_spans_as_batch_mode(tiny_run, notes_jsonl, tmp_path):
    predict(tiny_run, notes_jsonl, tmp_path / "batch.jsonl")
    streamed = subprocess.run(
        command(tiny_run, Path("-"), Path("-")),
        input=notes_jsonl.read_text(),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert [json.loads(line) for line in streamed.splitlines()] == read_lines(tmp_path / "batch.jsonl")


def test_segments_cover_every_word_once_with_context_either_side():
    assert segments(120, 50, 10) == [(0, 0, 50, 60), (40, 50, 100, 110), (90, 100, 120, 120)]


def test_a_note_longer_than_a_segment_is_predicted_in_pieces_with_offsets_into_the_whole_note(tiny_run, tmp_path):
    text = NOTE * 40  # 19 words each: 760 words, 8 segments of 100
    (tmp_path / "long.txt").write_text(text, encoding="utf-8")
    predict(
        tiny_run, tmp_path / "long.txt", tmp_path / "out.jsonl", "--segment-words", "100", "--segment-context", "20"
    )
    (record,) = read_lines(tmp_path / "out.jsonl")
    assert record["words"] == 760
    assert max(s["end"] for s in record["spans"]) > len(text) - len(NOTE)  # spans reach the last segment
    assert all(text[s["start"] : s["end"]] == s["text"] for s in record["spans"])


@pytest.mark.slow
def test_two_torchrun_processes_split_the_notes_and_merge_without_loss_or_duplicates(tiny_run, notes_jsonl, tmp_path):
    predict(tiny_run, notes_jsonl, tmp_path / "single.jsonl")
    torchrun = Path(sys.executable).with_name("torchrun")
    subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            "-m",
            "pipeline",
            "predict",
            "--run-dir",
            str(tiny_run),
            "--input",
            str(notes_jsonl),
            "--output",
            str(tmp_path / "two.jsonl"),
            "--quiet",
        ],
        cwd=REPO,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert read_lines(tmp_path / "two.jsonl") == read_lines(tmp_path / "single.jsonl")
    assert not list(tmp_path.glob("two.jsonl.shard-*"))


def test_a_missing_input_exits_with_code_2(tiny_run, tmp_path):
    assert predict(tiny_run, tmp_path / "absent.txt", tmp_path / "out.jsonl") == 2


def test_bad_json_lines_become_error_records_naming_the_line(tiny_run, tmp_path):
    source = tmp_path / "notes.jsonl"
    source.write_text(
        json.dumps({"id": "ok", "text": NOTE})
        + "\n{not json\n"
        + json.dumps({"id": "x", "text": 5})
        + "\n"
        + json.dumps({"id": "blank", "text": "  "})
        + "\n"
    )
    predict(tiny_run, source, tmp_path / "out.jsonl")
    records = read_lines(tmp_path / "out.jsonl")
    assert [r["id"] for r in records] == ["ok", "line-2", "x", "blank"]
    assert [r.get("error", "").split(": ", 1)[-1][:20] for r in records] == [
        "",
        "not valid JSON (Expe",
        "expected an object w",
        "empty note",
    ]
    assert records[1]["error"].startswith(f"{source}:2:")
