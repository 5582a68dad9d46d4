"""Fine-tuning for real with a tiny random BERT: it learns, writes the run contract, logs to W&B."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
from conftest import save_tiny_model, synthetic_brat_folder
from wandb_reader import read_offline_run

from pipeline.config import DataConfig, TrainConfig
from pipeline.core.errors import ConfigError
from pipeline.core.layout import read_predictions, read_run_config
from pipeline.core.provenance import machine
from pipeline.data.prepare import prepare_data
from pipeline.modeling.features import length_measure
from pipeline.modeling.registry import UnknownModelError, resolve_model
from pipeline.modeling.stopping import early_stop, kept_epoch
from pipeline.modeling.trainer import (
    LabelSetMismatch,
    check_label_set,
    cpu_supports_bf16,
    load_model,
    resolve_precision,
    step_floor_warning,
    validation_scores,
    warmup_plan,
)
from pipeline.training.train import train_run, train_seeds


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Synthetic brat corpus prepared into an output folder: 8 train, 2 validation, 2 test documents."""
    root = tmp_path_factory.mktemp("train")
    config = DataConfig(
        data=str(synthetic_brat_folder(root / "brat")), output_dir=str(root / "out"), validation_size=2, test_size=2
    )
    prepare_data(config, length_measure(config), progress=False)
    return root / "out"


def tiny_config(prepared: Path, model: Path, **overrides) -> TrainConfig:
    values = dict(
        model=str(model),
        output_dir=str(prepared),
        lr=[5e-3],
        batch_size=4,
        epochs=25,
        patience=25,
        max_length=32,
        overlap=8,
        wandb=False,
        warmup_steps=0,
    )
    values.update(overrides)
    return TrainConfig(**values)


def test_warmup_keeps_500_steps_when_they_are_a_small_share():
    assert warmup_plan(TrainConfig(warmup_steps=500), 10_000) == (500, "warmup 500 steps of 10000")


def test_warmup_falls_back_to_ten_percent_of_a_short_schedule():
    steps, note = warmup_plan(TrainConfig(warmup_steps=500), 220)
    assert steps == 22
    assert "would exceed 10% of the 220 optimisation steps" in note


def test_a_schedule_under_the_step_floor_is_warned_about_with_what_to_change():
    note = step_floor_warning(TrainConfig(epochs=5, batch_size=16), 85)  # the plan's recipe on 140 notes
    assert note is not None
    assert note.startswith("85 optimisation steps (5 epochs of batch 16) is under the floor of 300")
    assert "raise --epochs or lower --batch-size" in note
    assert step_floor_warning(TrainConfig(epochs=12, batch_size=8), 780) is None  # the cpu recipe


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512bw avx512_bf16 amx_tile\n")
    assert cpu_supports_bf16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512bw avx512_vnni\n")
    assert not cpu_supports_bf16(cpuinfo)
    assert not cpu_supports_bf16(tmp_path / "absent")


@pytest.mark.parametrize(
    ("cuda", "bf16_cpu", "expected"), [(True, False, "fp16"), (False, True, "fp32"), (False, False, "fp32")]
)
def test_auto_precision_is_fp16_on_cuda_and_fp32_on_any_cpu(cuda, bf16_cpu, expected):
    # bf16 autocast trained slower than fp32 on a 2-core AVX-512 BF16 CPU: never chosen for the user there
    assert resolve_precision("auto", cuda=cuda, bf16_cpu=bf16_cpu) == expected
    assert resolve_precision("fp32", cuda=cuda, bf16_cpu=bf16_cpu) == "fp32"


def test_precisions_a_cpu_cannot_run_are_errors():
    with pytest.raises(ConfigError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", cuda=False, bf16_cpu=True)
    with pytest.raises(ConfigError, match="bf16 on CPU needs native bf16"):
        resolve_precision("bf16", cuda=False, bf16_cpu=False)
    assert resolve_precision("bf16", cuda=False, bf16_cpu=True) == "bf16"


def test_unknown_model_lists_the_known_names():
    with pytest.raises(
        UnknownModelError, match="known models: pubmedbert, biobert, bioformer16l, clinicalbert, minilm"
    ):
        resolve_model("gpt-9")


def test_hub_model_that_is_not_cached_names_the_offline_alternative(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="Use --model minilm"):
        load_model("pubmedbert", {"O": 0})


def test_a_student_keeps_the_first_encoder_layers_of_the_pretrained_model(tiny_model_dir):
    import torch

    tag2id = {"O": 0, "B-Age": 1, "I-Age": 2}
    full, student = load_model(str(tiny_model_dir), tag2id), load_model(str(tiny_model_dir), tag2id, layers=1)
    assert (len(full.bert.encoder.layer), len(student.bert.encoder.layer)) == (2, 1)
    assert student.config.num_hidden_layers == 1
    kept, first = student.bert.encoder.layer[0].state_dict(), full.bert.encoder.layer[0].state_dict()
    assert all(torch.equal(kept[name], first[name]) for name in first)
    with pytest.raises(ConfigError, match=r"--encoder-layers 3: .* has 2 encoder layers"):
        load_model(str(tiny_model_dir), tag2id, layers=3)


def test_checkpoint_with_another_label_set_is_an_error(tmp_path):
    folder = save_tiny_model(tmp_path / "m", {"O": 0, "B-Age": 1, "I-Age": 2})
    check_label_set(str(folder), {"O": 0, "B-Age": 1, "I-Age": 2})
    with pytest.raises(LabelSetMismatch, match=r"only in data: \['B-Sex', 'I-Sex'\]"):
        check_label_set(str(folder), {"O": 0, "B-Age": 1, "I-Age": 2, "B-Sex": 3, "I-Sex": 4})


def test_training_learns_a_tiny_set_and_writes_the_run_contract(prepared, tiny_model_dir):
    run_dir = train_run(tiny_config(prepared, tiny_model_dir))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    losses = [epoch["train_loss"] for epoch in metrics["epochs"]]
    assert losses[-1] < losses[0] / 4
    assert metrics["test"]["micro"]["f1"] > 0.9
    assert set(metrics["test"]["per_type"]) == {"Age", "Sex", "Sign_symptom"}
    assert {"train_seconds", "peak_memory_mb", "epochs", "validation"} <= set(metrics)
    config = json.loads((run_dir / "config.json").read_text())
    assert config["run"] == run_dir.name and config["versions"]["transformers"]
    assert config["machine"] == machine()  # the machine its training time was measured on
    assert config["parameters"] > 0 and config["split_hash"]
    assert config["train"]["precision"] == "fp32"  # what auto became on this CPU
    line = json.loads((run_dir / "predictions" / "test.jsonl").read_text().splitlines()[0])
    assert set(line) == {"id", "words", "gold", "pred", "confidence", "spans"}
    assert len(line["words"]) == len(line["pred"]) == len(line["confidence"])
    span = line["spans"][0]
    assert span["confidence"] == min(line["confidence"][span["start_word"] : span["end_word"]])
    assert json.loads((run_dir / "model" / "tags.json").read_text())["tag2id"]["O"] == 0
    assert not list(run_dir.glob("trials/*/checkpoints"))


def test_validation_scores_give_the_micro_f1_of_each_tiers_spans():
    gold = [["B-Age", "O", "B-Sex", "B-Rare", "I-Rare", "O"], ["B-Age", "B-Sex", "O", "B-Unseen"]]
    pred = [["B-Age", "O", "B-Sex", "B-Rare", "O", "O"], ["B-Age", "O", "O", "B-Unseen"]]
    scores = validation_scores(gold, pred, {"Age": "frequent", "Sex": "frequent", "Rare": "rare"})
    assert scores["frequent_f1"] == pytest.approx(2 * 3 / (2 * 3 + 0 + 1))  # Age 2/2, Sex 1 of 2 found
    assert scores["rare_f1"] == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))  # Rare cut short; Unseen (not in training) found
    assert "medium_f1" not in scores  # no span of a medium type, gold or predicted
    assert scores["mean_f1"] == pytest.approx((scores["f1"] + scores["macro_f1"]) / 2)
    assert scores["f1"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 2))


EPOCHS = [
    {"epoch": 1, "val_f1": 0.50, "val_macro_f1": 0.20, "val_mean_f1": 0.35},
    {"epoch": 2, "val_f1": 0.60, "val_macro_f1": 0.25, "val_mean_f1": 0.425},
    {"epoch": 3, "val_f1": 0.59, "val_macro_f1": 0.30, "val_mean_f1": 0.445},
    {"epoch": 4, "val_f1": 0.60, "val_macro_f1": 0.33, "val_mean_f1": 0.465},
    {"epoch": 5, "val_f1": 0.58, "val_macro_f1": 0.34, "val_mean_f1": 0.46},
]


def test_replayed_early_stopping_on_micro_stops_before_the_macro_gains():
    outcome = early_stop(EPOCHS, "micro", patience=2)
    assert outcome["stopped"] == 4 and outcome["kept"]["epoch"] == 2  # epoch 4 only equals 2: no improvement


def test_replayed_early_stopping_on_the_mean_waits_for_them():
    assert early_stop(EPOCHS, "mean", patience=2) == {"stopped": 5, "kept": EPOCHS[3]}
    assert early_stop(EPOCHS, "macro", patience=2, planned=5)["kept"] == EPOCHS[4]


def test_a_replay_past_the_epochs_a_run_stopped_at_is_unknown():
    assert early_stop(EPOCHS, "macro", patience=2, planned=12) is None  # would run on past epoch 5
    assert early_stop(EPOCHS, "micro", patience=2, planned=12)["stopped"] == 4  # decided within the record


def test_the_kept_epoch_is_the_first_of_equals_as_the_trainer_keeps_it():
    assert kept_epoch(EPOCHS, "micro")["epoch"] == 2
    assert kept_epoch([], "mean") == {}


def test_select_on_keeps_the_epoch_of_its_metric_and_records_tier_f1_per_epoch(prepared, tiny_model_dir):
    run_dir = train_run(tiny_config(prepared, tiny_model_dir, epochs=6, patience=6, select_on="macro"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    epochs = metrics["epochs"]
    assert len(epochs) == 6 and metrics["select_on"] == "macro"
    assert all(
        {"val_macro_f1", "val_mean_f1", "val_rare_f1"} <= set(epoch) for epoch in epochs
    )  # every type is rare here
    kept = kept_epoch(epochs, "macro")
    assert metrics["lr_search"][0]["best_val_score"] == kept["val_macro_f1"]
    assert metrics["validation"]["macro"]["f1"] == pytest.approx(kept["val_macro_f1"])  # the kept model's scores


@pytest.mark.skipif(not cpu_supports_bf16(), reason="this CPU has no native bf16")
def test_bf16_autocast_trains_on_a_cpu_with_native_bf16(prepared, tiny_model_dir):
    run_dir = train_run(tiny_config(prepared, tiny_model_dir, precision="bf16"))
    assert read_run_config(run_dir)["train"]["precision"] == "bf16"
    assert json.loads((run_dir / "metrics.json").read_text())["test"]["micro"]["f1"] > 0.9


def test_seeds_train_one_run_per_seed_each_recording_its_seed(prepared, tiny_model_dir):
    run_dirs = train_seeds(tiny_config(prepared, tiny_model_dir, seeds=[1, 2], epochs=2))
    assert ["-seed1-" in run_dirs[0].name, "-seed2-" in run_dirs[1].name] == [True, True]
    settings = [read_run_config(run_dir)["train"] for run_dir in run_dirs]
    assert [s["seed"] for s in settings] == [1, 2] and all(s["seeds"] == [1, 2] for s in settings)
    first, second = (read_predictions(run_dir, "test")[0]["confidence"] for run_dir in run_dirs)
    assert first != second  # another initialisation and data order


def test_a_repeated_seed_is_an_error(prepared, tiny_model_dir):
    with pytest.raises(ConfigError, match="repeats a seed"):
        train_seeds(tiny_config(prepared, tiny_model_dir, seeds=[1, 1]))


def test_truncated_run_predicts_o_with_zero_confidence_beyond_the_cut(prepared, tiny_model_dir):
    run_dir = train_run(tiny_config(prepared, tiny_model_dir, long_docs="truncate", max_length=8, overlap=2, epochs=1))
    assert "-truncate-" in run_dir.name
    line = json.loads((run_dir / "predictions" / "test.jsonl").read_text().splitlines()[0])
    assert line["pred"][-1] == "O" and line["confidence"][-1] == 0.0


def test_offline_wandb_run_is_read_back_from_disk(prepared, tiny_model_dir, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    run_dir = train_run(tiny_config(prepared, tiny_model_dir, epochs=3, wandb=True))
    (run_file,) = glob.glob(str(run_dir / "wandb" / "offline-run-*" / "run-*.wandb"))
    run = read_offline_run(run_file)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run["project"], run["name"]) == ("Medical_NER_FineTuning", run_dir.name)
    assert run["config"]["train"]["lr"] == [5e-3]
    val_f1 = [row["val/f1"] for row in run["history"] if "val/f1" in row]
    assert val_f1 == pytest.approx([epoch["val_f1"] for epoch in metrics["epochs"]])
    assert any("train/loss" in row for row in run["history"])
    assert run["summary"]["test/micro_f1"] == pytest.approx(metrics["test"]["micro"]["f1"])
    artifacts = {name: (kind, paths) for name, kind, paths in run["artifacts"]}
    kind, paths = artifacts[f"{run_dir.name}-model"]
    assert kind == "model" and {"model.safetensors", "tags.json", "tokenizer.json"} <= set(paths)
    kind, paths = artifacts[f"{run_dir.name}-predictions"]
    assert kind == "predictions" and sorted(paths) == ["test.jsonl", "validation.jsonl"]


def test_training_runs_under_torchrun_with_two_cpu_processes(prepared, tiny_model_dir, tmp_path):
    import shutil
    import subprocess
    import sys

    from conftest import REPO

    out = tmp_path / "out"
    shutil.copytree(prepared / "data", out / "data")
    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "-m",
            "pipeline",
            "train",
            "--model",
            str(tiny_model_dir),
            "--output-dir",
            str(out),
            "--lr",
            "5e-3",
            "--batch-size",
            "2",
            "--epochs",
            "2",
            "--max-length",
            "32",
            "--overlap",
            "8",
            "--no-wandb",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = (out / "runs").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 2
    # each process saw half of the 8 training windows per epoch: 2 steps of 2 windows each
    assert metrics["optimisation_steps"] == 4


def test_killed_run_resumes_from_its_last_checkpoint(prepared, tiny_model_dir, tmp_path):
    import shutil
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    out = tmp_path / "out"
    shutil.copytree(prepared / "data", out / "data")
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "train",
        "--model",
        str(tiny_model_dir),
        "--output-dir",
        str(out),
        "--lr",
        "5e-3",
        "--batch-size",
        "1",
        "--epochs",
        "12",
        "--patience",
        "12",
        "--max-length",
        "32",
        "--overlap",
        "8",
        "--no-wandb",
        "--quiet",
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("runs/*/trials/*/checkpoints/checkpoint-*/trainer_state.json")):
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (run_dir,) = (out / "runs").iterdir()
    assert not (run_dir / "metrics.json").exists()
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "train", "--resume", str(run_dir), "--quiet"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming from" in result.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [epoch["epoch"] for epoch in metrics["epochs"]] == list(range(1, 13))


def test_resume_skips_a_checkpoint_killed_while_it_was_being_saved(tmp_path, caplog):
    from pipeline.modeling.trainer import last_checkpoint

    for step, state in ((8, '{"global_step": 8}'), (16, '{"global_st'), (24, None)):  # 16 cut short, 24 never got there
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"weights")
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-8")
    assert "checkpoint-24" in caplog.text and "checkpoint-16" in caplog.text
    assert last_checkpoint(tmp_path / "absent") is None
