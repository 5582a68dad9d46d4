"""Config fields carry their help and choices; unknown keys and values outside the choices are errors."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.cli import main
from pipeline.config import CONFIG_CLASSES, PipelineConfig, TrainConfig, build_config, check_overrides
from pipeline.core.errors import ConfigError
from pipeline.stages import run_all


@pytest.mark.parametrize("cls", CONFIG_CLASSES.values(), ids=list(CONFIG_CLASSES))
def test_every_config_field_has_help(cls):
    assert [spec.name for spec in dataclasses.fields(cls) if not spec.metadata.get("help", "").strip()] == []


def test_an_unknown_override_names_it_and_lists_the_fields():
    with pytest.raises(ConfigError, match=r"unknown TrainConfig field 'epoch'; valid fields: .*\bepochs\b"):
        build_config(TrainConfig, epochs=1, epoch=2)


def test_an_override_outside_the_choices_names_the_field_and_the_choices():
    with pytest.raises(ConfigError, match=r"TrainConfig\.long_docs is 'cut'; choose one of window, truncate"):
        build_config(TrainConfig, long_docs="cut")


def test_an_unknown_config_class_in_overrides_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"unknown config class 'TrainingConfig'.*known: .*\bTrainConfig\b"):
        check_overrides({"TrainingConfig": {"epochs": 1}})


def test_run_all_rejects_unknown_overrides_before_running_a_stage(tmp_path):
    with pytest.raises(ConfigError, match="unknown config class 'TrainingConfig'"):
        run_all(PipelineConfig(output_dir=str(tmp_path)), overrides={"TrainingConfig": {"epochs": 1}})
    assert list(tmp_path.iterdir()) == []


def test_train_help_shows_each_flags_meaning_and_choices(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps long help lines
    long_docs = next(spec for spec in dataclasses.fields(TrainConfig) if spec.name == "long_docs")
    assert "--long-docs {window,truncate}" in shown
    assert f"{long_docs.metadata['help']} (default: 'window')" in shown
