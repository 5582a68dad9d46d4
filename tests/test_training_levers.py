"""`python -m benchmarks.training_levers`: the padding it counts, its parser, and a run on a tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, synthetic_brat_folder

from benchmarks.training_levers import LEVERS, grouped_batches, main, padded_share, random_batches
from pipeline.config import DataConfig
from pipeline.data.prepare import prepare_data
from pipeline.modeling.features import length_measure


def test_padded_share_counts_the_padding_of_dynamic_batches():
    assert padded_share([[{"input_ids": [0] * 4}, {"input_ids": [0] * 2}], [{"input_ids": [0] * 3}]]) == pytest.approx(
        2 / 11
    )


def test_length_grouped_batches_pad_less_and_keep_every_window():
    # 96 full windows and 32 short last windows of documents, as in a windowed corpus
    features = [{"input_ids": [0] * length} for length in [256] * 96 + [64] * 32]
    shuffled, grouped = random_batches(features, 4, seed=3), grouped_batches(features, 4, seed=3)
    assert sorted(id(f) for b in grouped for f in b) == sorted(id(f) for f in features)
    # sorted within megabatches of 32 windows: at most one mixed batch per megabatch
    assert padded_share(grouped) <= 4 * 3 * 192 / (128 * 256 + 4 * 3 * 192)
    assert padded_share(shuffled) > 2 * padded_share(grouped)


def test_an_unknown_lever_is_refused_with_the_levers_it_knows(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--levers", "padding,turbo"])
    assert stopped.value.code == 2
    assert "unknown lever turbo; choose from padding, precision, grouping, evaluation" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_from_the_repository_root_prints_the_setup_then_one_line_per_lever(tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    data = DataConfig(
        data=str(synthetic_brat_folder(tmp_path / "brat")), output_dir=str(out), validation_size=2, test_size=2
    )
    prepare_data(data, length_measure(data), progress=False)
    command = [sys.executable, "-m", "benchmarks.training_levers", "--output-dir", str(out)]
    command += ["--model", str(tiny_model_dir), "--rounds", "2", "--steps", "1"]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, check=True, env={**os.environ, "WANDB_MODE": "offline"}
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [next(iter(line)) for line in lines] == ["setup", *LEVERS]
    setup = lines[0]["setup"]
    assert {key: setup[key] for key in ("rounds", "steps_per_round", "batch_size", "max_length")} == {
        "rounds": 2,
        "steps_per_round": 1,
        "batch_size": 8,  # the cpu profile's
        "max_length": 256,
    }
    assert (setup["train_windows"], setup["validation_windows"]) == (8, 2)  # one window per short document
    assert lines[1]["padding"] == {"random": 0.0, "grouped": 0.0}  # every note is one window of one length: no padding
    for line in lines[2:]:
        (result_of_lever,) = line.values()
        assert len(result_of_lever["ratios"]) == len(result_of_lever["seconds"]) == 2
        assert result_of_lever["min"] <= result_of_lever["median"] <= result_of_lever["max"]
