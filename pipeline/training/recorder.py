"""One run recorder for every model kind: the run directory's config, predictions, metrics and tracking.

A transformer run and a CRF run differ only in how they fit and predict; what they record is the
same and is written here once: `open_run` (folder, `config.json`, W&B), `close_run` (validation and
test predictions over whole documents, strict seqeval, `metrics.json`, the parameter count in
`config.json`, the W&B summary and artifacts).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.core.errors import ConfigError
from pipeline.core.files import sha256_of
from pipeline.core.layout import (
    EVAL_PARTS,
    MetricsRecord,
    Outputs,
    RunFolder,
    prediction_record,
    read_record,
    write_predictions,
    write_record,
)
from pipeline.core.provenance import git_commit, machine, package_versions
from pipeline.core.scoring import strict_scores
from pipeline.data.prepare import PreparedData, load_prepared
from pipeline.training.tracking import Tracker, log_run, start_tracking

# documents (lists of words) -> one (IOB2 tags, confidence per word) per document
Predict = Callable[[Sequence[Sequence[str]]], Sequence[tuple[Sequence[str], Sequence[float]]]]


@dataclass
class OpenRun:
    name: str
    folder: RunFolder
    tracker: Tracker


def run_config(
    run: str,
    model: str,
    settings: dict[str, Any],
    data_summary: dict[str, Any],
    split: dict[str, Any],
    tag2id: dict[str, int],
    **extra: Any,
) -> dict[str, Any]:
    """What config.json records: enough to reproduce the run and to analyse it without outputs/data."""
    return {
        "run": run,
        "model": model,
        "created": datetime.now().isoformat(timespec="seconds"),
        "train": settings,
        "data": data_summary.get("config", {}),
        "corpus": data_summary.get("corpus"),
        "data_source": data_summary.get("source"),
        "split_hash": split_hash(split),
        "split_strategy": split.get("strategy"),
        "types": data_summary.get("types", {}),
        "tag2id": tag2id,
        "versions": package_versions(),
        "machine": machine(),
        "git_commit": git_commit(),
        "command": " ".join(sys.argv),
        **extra,
    }


def split_hash(split: dict[str, Any]) -> str:
    """The identity of a split's document lists: two runs with equal hashes saw the same documents."""
    return sha256_of({part: split[part] for part in ("train", "validation", "test")})


def prepared_with_test(output_dir: str) -> PreparedData:
    """The prepared data, refusing an empty test part (a run must be scored on test)."""
    prepared = load_prepared(output_dir)
    if not prepared.parts["test"]:
        raise ConfigError("the test part is empty: rebuild the data with a test size above 0")
    return prepared


def open_run(
    output_dir: str | Path,
    name: str,
    model: str,
    settings: dict[str, Any],
    prepared: PreparedData,
    track: bool,
    wandb_id: str | None = None,
    main: bool = True,
) -> OpenRun:
    """Create `runs/<name>/`, start tracking and write `config.json` (on the main process only)."""
    folder = Outputs(output_dir).run(name)
    if not main:
        return OpenRun(name, folder, Tracker())
    folder.path.mkdir(parents=True, exist_ok=True)
    record = run_config(name, model, settings, prepared.summary, prepared.split, prepared.tag2id)
    tracker = start_tracking(name, folder.path, record, track, wandb_id)
    record["wandb_id"] = tracker.run.id if tracker.run is not None else None
    record["wandb_mode"] = tracker.mode
    write_record(folder.config, "run_config", record)
    return OpenRun(name, folder, tracker)


def close_run(
    run: OpenRun,
    model: str,
    prepared: PreparedData,
    predict: Predict,
    details: Callable[[], dict[str, Any]],
    log_text: bool,
) -> Path:
    """Predict validation and test, score them, write `metrics.json` and log the run; `details` gives the
    model kind's own metrics (epochs, timings, peak memory, parameters), called after predicting."""
    metrics: MetricsRecord = {"run": run.name, "model": model}
    predictions: dict[str, list[dict[str, Any]]] = {}
    for part in EVAL_PARTS:
        documents = prepared.parts[part]
        results = predict([d.words for d in documents])
        predictions[part] = [
            prediction_record(d.id, d.words, d.tags, tags, confidence)
            for d, (tags, confidence) in zip(documents, results)
        ]
        write_predictions(run.folder.path, part, predictions[part])
        metrics[part] = strict_scores([d.tags for d in documents], [tags for tags, _ in results])  # type: ignore[literal-required]
    metrics.update(details())  # type: ignore[typeddict-item]
    write_record(run.folder.metrics, "metrics", dict(metrics))
    config_record = read_record(run.folder.config, "run_config")
    config_record["parameters"] = metrics.get("parameters")
    write_record(run.folder.config, "run_config", config_record)
    log_run(run.tracker, run.name, run.folder.path, dict(metrics), predictions, log_text)
    return run.folder.path
