"""Config fields carry their help, choices and ranges; unknown keys and values outside them are errors."""

from __future__ import annotations

import argparse
import dataclasses
import typing

import pytest

from pipeline.cli import main
from pipeline.cli_flags import build_config
from pipeline.config import (
    CONFIG_CLASSES,
    DataConfig,
    PipelineConfig,
    PredictConfig,
    Range,
    TrainConfig,
    check_overrides,
)
from pipeline.core.errors import ConfigError
from pipeline.stages.runner import run_all


@pytest.mark.parametrize("cls", CONFIG_CLASSES.values(), ids=list(CONFIG_CLASSES))
def test_every_config_field_has_help(cls):
    assert [spec.name for spec in dataclasses.fields(cls) if not spec.metadata.get("help", "").strip()] == []


def test_an_unknown_override_names_it_and_lists_the_fields():
    with pytest.raises(ConfigError, match=r"unknown TrainConfig field 'epoch'; valid fields: .*\bepochs\b"):
        build_config(TrainConfig, epochs=1, epoch=2)


def test_an_override_outside_the_choices_names_the_field_and_the_choices():
    with pytest.raises(ConfigError, match=r"^--long-docs cut is not allowed; choose one of window, truncate$"):
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


def test_train_help_lists_the_registered_models_and_both_profiles_windows(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "(registered: pubmedbert, biobert, bioformer16l, clinicalbert, minilm; default: 'minilm')" in shown
    assert "--overlap OVERLAP wordpieces shared by consecutive windows (allowed: >= 0 and < --max-length; " in shown
    assert "default: 128; cpu profile: 64; gpu profile: 128)" in shown


UNBOUNDED = {"conll_token_column", "conll_tag_column"}  # a negative column counts from the end


@pytest.mark.parametrize("cls", CONFIG_CLASSES.values(), ids=list(CONFIG_CLASSES))
def test_every_numeric_setting_has_an_allowed_range(cls):
    hints = typing.get_type_hints(cls)
    unchecked = [
        spec.name
        for spec in dataclasses.fields(cls)
        if hints[spec.name] in (int, float, list[int], list[float])
        and spec.name not in UNBOUNDED
        and "allowed" not in spec.metadata
    ]
    assert unchecked == []


@pytest.mark.parametrize(
    "allowed, shown, inside, outside",
    [
        (Range(1), ">= 1", [1, 7], [0, -1, float("nan")]),
        (Range(0, low_open=True), "> 0", [1e-9, 2e-5], [0.0, -1.0]),
        (Range(0, 1), "in [0, 1]", [0.0, 0.5, 1.0], [-0.01, 1.01, float("nan")]),
        (Range(0, "max_length", high_open=True), ">= 0 and < --max-length (256)", [0, 255], [-1, 256]),
    ],
)
def test_a_range_says_what_it_allows_and_holds_exactly_that(allowed, shown, inside, outside):
    config = TrainConfig(max_length=256, overlap=64)
    assert allowed.describe(config) == shown
    assert [allowed.contains(value, config) for value in inside + outside] == [True] * len(inside) + [False] * len(
        outside
    )


@pytest.mark.parametrize("profile, windows", [("cpu", (256, 64)), ("gpu", (512, 128))])
def test_the_data_summary_measures_the_windows_the_same_profile_trains_on(profile, windows):
    data, train = build_config(DataConfig, profile=profile), build_config(TrainConfig, profile=profile)
    assert (data.max_length, data.overlap) == (train.max_length, train.overlap) == windows
    flags = build_config(DataConfig, argparse.Namespace(max_length=192, overlap=None), profile)
    assert (flags.max_length, flags.overlap) == (192, windows[1])  # a flag over the profile, as in train


def test_a_config_outside_its_range_is_refused_when_made_or_replaced():
    with pytest.raises(ConfigError, match=r"^--batch-docs 0 is out of range: allowed >= 1$"):
        PredictConfig(batch_docs=0)
    with pytest.raises(ConfigError, match=r"^--overlap 64 is out of range: allowed >= 0 and < --max-length \(64\)$"):
        dataclasses.replace(TrainConfig(overlap=64), max_length=64)
    with pytest.raises(ConfigError, match=r"^--lr needs at least one value$"):
        build_config(TrainConfig, lr=[])


def test_train_help_shows_each_flags_allowed_range(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "training windows per device and step (allowed: >= 1; default: 16; cpu profile: 8; gpu profile: 16)" in shown
    assert (
        "wordpieces shared by consecutive windows (allowed: >= 0 and < --max-length; default: 128; cpu profile: 64; "
        "gpu profile: 128)"
    ) in shown
