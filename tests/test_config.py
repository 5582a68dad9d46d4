"""Config fields carry their help and choices; values outside the choices are errors."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.cli import main
from pipeline.config import CONFIG_CLASSES, TrainConfig, build_config
from pipeline.core.errors import ConfigError


@pytest.mark.parametrize("cls", CONFIG_CLASSES.values(), ids=list(CONFIG_CLASSES))
def test_every_config_field_has_help(cls):
    assert [spec.name for spec in dataclasses.fields(cls) if not spec.metadata.get("help", "").strip()] == []


def test_an_override_outside_the_choices_names_the_field_and_the_choices():
    with pytest.raises(ConfigError, match=r"TrainConfig\.long_docs is 'cut'; choose one of window, truncate"):
        build_config(TrainConfig, long_docs="cut")


def test_train_help_shows_each_flags_meaning_and_choices(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps long help lines
    long_docs = next(spec for spec in dataclasses.fields(TrainConfig) if spec.name == "long_docs")
    assert "--long-docs {window,truncate}" in shown
    assert f"{long_docs.metadata['help']} (default: 'window')" in shown
