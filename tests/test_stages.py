"""`pipeline all` stage caching: an unchanged stage is skipped, a changed input reruns it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.config import CRFConfig, PipelineConfig, TrainConfig, build_config
from pipeline.stages import StageRunner, in_fresh_process, source_fingerprint, train_configs


def counting_action(tmp_path: Path, calls: list[str], label: str):
    def action() -> dict[str, Path]:
        calls.append(label)
        out = tmp_path / f"{label}.txt"
        out.write_text(label)
        return {"out": out}

    return action


def test_unchanged_stage_is_skipped_and_reports_its_outputs(tmp_path):
    calls: list[str] = []
    first = StageRunner(tmp_path, total=1, echo=lambda _: None).run("train", {"lr": 1e-4},
                                                                    counting_action(tmp_path, calls, "a"))
    second = StageRunner(tmp_path, total=1, echo=lambda _: None).run("train", {"lr": 1e-4},
                                                                     counting_action(tmp_path, calls, "b"))
    assert calls == ["a"]
    assert (first.cached, second.cached) == (False, True)
    assert second.outputs == {"out": str(tmp_path / "a.txt")}
    assert second.key == first.key


def test_changed_config_reruns_the_stage(tmp_path):
    calls: list[str] = []
    StageRunner(tmp_path, 1, echo=lambda _: None).run("train", {"lr": 1e-4}, counting_action(tmp_path, calls, "a"))
    again = StageRunner(tmp_path, 1, echo=lambda _: None).run("train", {"lr": 2e-4},
                                                              counting_action(tmp_path, calls, "b"))
    assert calls == ["a", "b"]
    assert not again.cached


def test_a_changed_upstream_key_reruns_the_downstream_stage(tmp_path):
    calls: list[str] = []

    def chain(lr: float) -> None:
        runner = StageRunner(tmp_path, 2, echo=lambda _: None)
        data = runner.run("data", {"seed": 42}, counting_action(tmp_path, calls, "data"))
        runner.run("train", {"lr": lr, "data": data.key}, counting_action(tmp_path, calls, f"train{lr}"))

    chain(1e-4)
    chain(1e-4)
    chain(3e-4)
    assert calls == ["data", "train0.0001", "train0.0003"]


def test_an_upstream_rerun_that_wrote_new_outputs_reruns_the_downstream_stage(tmp_path):
    calls: list[str] = []
    runner = StageRunner(tmp_path, 2, echo=lambda _: None)
    first = runner.run("train", {"lr": 1e-4}, counting_action(tmp_path, calls, "train-a"))
    runner.run("analyze", {"run": first.identity}, counting_action(tmp_path, calls, "analyze"))
    rerun = StageRunner(tmp_path, 2, force=True, echo=lambda _: None).run(
        "train", {"lr": 1e-4}, counting_action(tmp_path, calls, "train-b"))
    assert rerun.key == first.key and rerun.identity != first.identity
    StageRunner(tmp_path, 2, echo=lambda _: None).run("analyze", {"run": rerun.identity},
                                                      counting_action(tmp_path, calls, "analyze"))
    assert calls == ["train-a", "analyze", "train-b", "analyze"]


def test_training_and_benchmark_stages_run_in_a_fresh_process_so_peak_memory_is_their_own():
    assert in_fresh_process(os.getpid) != os.getpid()
    with pytest.raises(ValueError, match="unknown profile"):
        in_fresh_process(build_config, TrainConfig, None, "tpu")


def test_missing_output_reruns_the_stage(tmp_path):
    calls: list[str] = []
    StageRunner(tmp_path, 1, echo=lambda _: None).run("train", {"lr": 1}, counting_action(tmp_path, calls, "a"))
    (tmp_path / "a.txt").unlink()
    StageRunner(tmp_path, 1, echo=lambda _: None).run("train", {"lr": 1}, counting_action(tmp_path, calls, "a"))
    assert calls == ["a", "a"]


def test_force_reruns_an_unchanged_stage(tmp_path):
    calls: list[str] = []
    StageRunner(tmp_path, 1, echo=lambda _: None).run("s", {}, counting_action(tmp_path, calls, "a"))
    StageRunner(tmp_path, 1, force=True, echo=lambda _: None).run("s", {}, counting_action(tmp_path, calls, "a"))
    assert calls == ["a", "a"]


def test_progress_line_per_stage_says_run_or_reused(tmp_path):
    lines: list[str] = []
    for _ in range(2):
        StageRunner(tmp_path, 3, echo=lines.append).run("data", {}, counting_action(tmp_path, [], "d"))
    assert lines[0] == "[1/3] data: running"
    assert lines[1].startswith("[1/3] data: done in ")
    assert lines[2].startswith("[1/3] data: unchanged, reusing ")


def test_source_fingerprint_follows_file_contents(tmp_path):
    folder = tmp_path / "brat"
    folder.mkdir()
    (folder / "1.txt").write_text("fever")
    before = source_fingerprint(str(folder))
    assert source_fingerprint(str(folder)) == before
    (folder / "1.txt").write_text("cough")
    assert source_fingerprint(str(folder)) != before
    assert source_fingerprint("ktgiahieu/maccrobat2018_2020") == "ktgiahieu/maccrobat2018_2020"


def test_cpu_plan_trains_minilm_its_truncate_twin_and_the_crf():
    plan = train_configs(PipelineConfig(output_dir="out"), "cpu")
    assert [name for name, _ in plan] == ["train-minilm", "train-minilm-truncate", "train-crf"]
    twin = plan[1][1]
    assert isinstance(twin, TrainConfig)
    assert (twin.long_docs, twin.max_length, plan[0][1].long_docs, plan[0][1].max_length) == (
        "truncate", 512, "window", 256)
    assert isinstance(plan[2][1], CRFConfig) and plan[2][1].output_dir == "out"


def test_gpu_plan_trains_the_biomedical_models():
    from pipeline.config import build_config

    plan = train_configs(build_config(PipelineConfig, None, "gpu", output_dir="out"), "gpu")
    assert [name for name, _ in plan] == ["train-pubmedbert", "train-pubmedbert-truncate", "train-biobert",
                                          "train-bioformer16l", "train-crf"]


@pytest.mark.slow
def test_all_runs_every_stage_then_reuses_them_and_reruns_only_what_a_change_touches(tmp_path):
    from conftest import save_tiny_model, synthetic_brat_folder

    from pipeline.stages import run_all

    brat = synthetic_brat_folder(tmp_path / "brat", documents=40)
    model = save_tiny_model(tmp_path / "tiny")
    config = PipelineConfig(data=str(brat), models=[str(model)], output_dir=str(tmp_path / "out"))
    overrides = {"DataConfig": {"validation_size": 0.2, "test_size": 0.2},
                 "TrainConfig": {"epochs": 1, "wandb": False, "max_length": 64, "stride": 16},
                 "CRFConfig": {"wandb": False, "max_iterations": 5}}

    def run(**changes) -> dict[str, bool]:
        merged = {name: {**values, **changes.get(name, {})} for name, values in overrides.items()}
        return {record.name: record.cached for record in run_all(config, "cpu", progress=False, echo=lambda _: None,
                                                                 overrides=merged)}

    first = run()
    benches = [name for name in first if name.startswith("bench-")]  # once pipeline.serving.bench exists
    assert list(first) == ["data", "train-tiny", "train-tiny-truncate", "train-crf", "analyze-tiny",
                           "analyze-tiny-truncate", "analyze-crf", *benches, "compare", "report"]
    assert not any(first.values())
    assert all(run().values())
    changed = run(CRFConfig={"max_iterations": 6})
    assert [name for name, cached in changed.items() if not cached] == ["train-crf", "analyze-crf", "compare", "report"]
    assert (tmp_path / "out" / "report" / "latest" / "site" / "index.html").is_file()

