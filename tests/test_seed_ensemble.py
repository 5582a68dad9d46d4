"""`python -m benchmarks.seed_ensemble`: the average it takes, and a run on two tiny seeds and a CRF."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import synthetic_brat_folder

from benchmarks.seed_ensemble import average, main
from pipeline.config import CRFConfig, DataConfig, TrainConfig
from pipeline.core.layout import read_metrics
from pipeline.data.prepare import prepare_data
from pipeline.modeling.features import length_measure
from pipeline.training.train import train_seeds
from pipeline.training.train_crf import train_crf


def test_the_ensemble_averages_each_words_distribution_over_the_members():
    first = [np.array([[1.0, 0.0], [0.5, 0.5]]), np.array([[0.2, 0.8]])]
    second = [np.array([[0.0, 1.0], [0.5, 0.5]]), np.array([[0.6, 0.4]])]
    mixed = average([first, second])
    assert len(mixed) == 2
    np.testing.assert_allclose(mixed[0], [[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(mixed[1], [[0.4, 0.6]])


def test_fewer_than_two_runs_are_refused(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--runs", "only-one"])
    assert stopped.value.code == 2
    assert "--runs needs at least two transformer runs" in capsys.readouterr().err


@pytest.mark.slow
def test_each_seed_alone_scores_as_its_run_recorded_and_the_ensemble_and_crf_rows_follow(
    tmp_path, tiny_model_dir, capsys
):
    out = tmp_path / "out"
    data = DataConfig(
        data=str(synthetic_brat_folder(tmp_path / "brat")), output_dir=str(out), validation_size=2, test_size=2
    )
    prepare_data(data, length_measure(data), progress=False)
    settings = {"lr": [5e-3], "batch_size": 4, "epochs": 2, "max_length": 32, "overlap": 8, "warmup_steps": 0}
    seeds = train_seeds(
        TrainConfig(model=str(tiny_model_dir), output_dir=str(out), wandb=False, seeds=[42, 43], **settings)
    )
    crf = train_crf(CRFConfig(output_dir=str(out), wandb=False, c1=[0.01], c2=[0.01], max_iterations=20))
    capsys.readouterr()  # the trainings' own output
    assert main(["--output-dir", str(out), "--runs", ",".join(map(str, seeds)), "--crf", str(crf)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = [run.name for run in seeds] + ["ensemble of 2"]
    assert [row["subject"] for row in rows] == [s for name in names for s in (name, f"{name} + crf")]
    for run, row in zip(seeds, rows[::2][:2], strict=True):
        recorded = read_metrics(run)
        for part in ("validation", "test"):
            assert row[part]["micro_f1"] == pytest.approx(recorded[part]["micro"]["f1"], abs=1e-4)
            assert row[part]["macro_f1"] == pytest.approx(recorded[part]["macro"]["f1"], abs=1e-4)
        assert row["train_seconds"] == round(recorded["train_seconds"])
    ensemble, mixed = rows[4], rows[5]
    assert ensemble["weight"] is None and mixed["weight"] in [round(0.1 * step, 1) for step in range(11)]
    assert ensemble["train_seconds"] == round(sum(read_metrics(run)["train_seconds"] for run in seeds))
    assert mixed["train_seconds"] == pytest.approx(
        ensemble["train_seconds"] + read_metrics(crf)["train_seconds"], abs=1
    )
    low, high = ensemble["test"]["micro_f1_interval"]
    assert low <= ensemble["test"]["micro_f1"] <= high
