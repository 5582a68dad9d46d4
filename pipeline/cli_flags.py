"""Config dataclasses as command-line flags: one flag per field, its help with the values it allows, its
default and each profile's value, and a config built from the flags given."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any

from pipeline.config import PROFILES, flag_name, make_config, profile_values
from pipeline.modeling.registry import MODELS


def _parse_list(item_type: type) -> Any:
    def parse(text: str) -> list:
        return [item_type(part) for part in text.split(",") if part.strip()]

    return parse


def _default(spec: dataclasses.Field) -> Any:
    """A field's default value, built by its factory when it has one."""
    return spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default


def _help(cls: type, spec: dataclasses.Field) -> str:
    """The field's help text, then the models it may name, the values it allows, its default and the values
    the profiles give it."""
    allowed = spec.metadata.get("allowed")
    values = (
        ([f"registered: {', '.join(MODELS)}"] if spec.metadata.get("models") else [])
        + ([f"allowed: {allowed.describe()}"] if allowed else [])
        + [f"default: {_default(spec)!r}"]
        + [
            f"{name} profile: {profile_values(cls, name)[spec.name]!r}"
            for name in PROFILES
            if spec.name in profile_values(cls, name)
        ]
    )
    return f"{spec.metadata['help']} ({'; '.join(values)})".replace("%", "%%")  # argparse %-formats help


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per dataclass field, with the field's help and choices; defaults stay None so that
    explicit flags can be told apart."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(f"{cls.__name__} (defaults: {', '.join(PROFILES)} profiles)")
    for spec in dataclasses.fields(cls):
        if spec.name in skip:
            continue
        hint = hints[spec.name]
        origin = typing.get_origin(hint)
        common: dict[str, Any] = {"dest": spec.name, "default": None, "help": _help(cls, spec)}
        if hint is bool:
            group.add_argument(flag_name(spec.name), action=argparse.BooleanOptionalAction, **common)
        elif origin is list:
            (item_type,) = typing.get_args(hint)
            group.add_argument(flag_name(spec.name), type=_parse_list(item_type), metavar="A,B,...", **common)
        else:
            base = next((t for t in typing.get_args(hint) if t is not type(None)), hint) if origin else hint
            group.add_argument(flag_name(spec.name), type=base, choices=spec.metadata.get("choices"), **common)


def build_config(cls: type, args: argparse.Namespace | None = None, profile: str = "cpu", **overrides: Any) -> Any:
    """Dataclass defaults <- profile values <- explicit CLI flags <- keyword overrides (`make_config`; the
    CLI namespace holds other keys too, so only the fields of `cls` are taken)."""
    names = {spec.name for spec in dataclasses.fields(cls)}
    flags = {k: v for k, v in vars(args).items() if k in names and v is not None} if args is not None else {}
    return make_config(cls, profile, **{**flags, **overrides})
