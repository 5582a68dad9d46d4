"""bench's choice of the inference windows on validation: the candidates the model allows, the cheapest in
encoder FLOPs per wordpiece within the F1 tolerance, and the facts of each subject's windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.config import BenchConfig
from pipeline.core.errors import ConfigError
from pipeline.core.layout import RunFolder, read_run_config
from pipeline.modeling.backends import encoder_run
from pipeline.serving.bench_pool import ENCODER_KINDS, Subject


def model_positions(run_dir: Path) -> int:
    """The longest window the run's model takes (its position embeddings)."""
    from transformers import AutoConfig

    return int(AutoConfig.from_pretrained(RunFolder(encoder_run(run_dir)).model).max_position_embeddings)


def window_candidates(config: BenchConfig, positions: int) -> list[tuple[int, int]]:
    """`config.windows` as (max_length, overlap), those the model's `positions` allow."""
    candidates = []
    for text in config.windows:
        try:
            length, overlap = (int(part) for part in text.split("/"))
        except ValueError as exc:
            raise ConfigError(f"--windows {text!r}: expected max_length/overlap, e.g. 512/32") from exc
        if not 0 <= overlap < length - 2:
            raise ConfigError(f"--windows {text!r}: the overlap must be below the window's wordpieces")
        if length <= positions:
            candidates.append((length, overlap))
    return candidates


def choose_windows(options: list[dict[str, Any]], base_f1: float, tolerance: float) -> dict[str, Any]:
    """The option with the fewest encoder FLOPs per wordpiece whose validation F1 is within `tolerance`
    points of `base_f1` (options: {max_length, overlap, validation_micro_f1, mflop_per_wordpiece}); the
    first option (the run's own windows) when none qualifies."""
    kept = [o for o in options if o["validation_micro_f1"] >= base_f1 - tolerance / 100 - 1e-9]
    return min(kept or options[:1], key=lambda o: o["mflop_per_wordpiece"])


def window_facts(subject: Subject, run_dir: Path) -> dict[str, Any]:
    """The max_length / overlap the subject predicts with (None for a CRF or the reference)."""
    if subject.kind not in ENCODER_KINDS:
        return {}
    if subject.windows:
        return {"max_length": subject.windows[0], "overlap": subject.windows[1]}
    settings = read_run_config(encoder_run(run_dir))["train"]
    return {"max_length": int(settings["max_length"]), "overlap": int(settings["overlap"])}


def window_option(
    subject: Subject, facts: dict[str, dict[str, Any]], scored: dict[str, dict[str, Any]], own: bool = False
) -> dict[str, Any]:
    """One row of the window choice: the windows, fp32's validation F1 with them, and their cost."""
    mine = facts[subject.label]
    return {
        "max_length": mine["max_length"],
        "overlap": mine["overlap"],
        "run_windows": own,
        "validation_micro_f1": scored[subject.label]["f1"].get("validation", 0.0),
        "positions_per_wordpiece": round(mine["positions"] / mine["wordpieces_read"], 3),
        "mflop_per_wordpiece": round(mine["flops"] / mine["wordpieces_read"] / 1e6, 3),
        "chosen": False,
    }
