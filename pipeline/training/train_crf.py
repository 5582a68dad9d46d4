"""`python -m pipeline train --model crf`: fit the CRF baseline, tuned on validation, and record it like any other run.

`c1` x `c2` is a grid: each point is fitted with `grid_iterations` L-BFGS iterations (cheaper than the
final fit; the points are compared with each other, not with the final model) and scored on the
validation documents (strict micro-F1 of its own decoding); the best point (the first of equals, in
grid order) is refitted with `max_iterations` and kept. A single-point grid is fitted once. The points
are fitted side by side in `workers` processes (`pipeline.core.parallel`), with the same records and choice
as one after another. metrics.json adds `grid` [{c1, c2, iterations, validation_f1, fit_seconds}],
`selected` {c1, c2}, `grid_seconds` (the wall time of the grid), `grid_fit_seconds_total` (the sum of the
points' `fit_seconds`: what the fits cost, however many ran side by side), `workers` (the processes the
grid ran in; a single-point grid records 0 seconds for both and 1 worker) and `train_seconds` (grid plus
final fit: the whole cost of the tuned baseline).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.config import CRFConfig
from pipeline.core.documents import Document
from pipeline.core.layout import run_name, write_tags
from pipeline.core.parallel import map_in_order, worker_count
from pipeline.core.provenance import peak_cpu_memory_mb
from pipeline.core.scoring import strict_scores
from pipeline.modeling import crf
from pipeline.training.recorder import close_run, open_run, prepared_with_test


@dataclass(frozen=True)
class GridData:
    """What fitting and scoring a grid point needs, sent once to each worker process."""

    train: Sequence[Document]
    features: list[list[dict[str, Any]]]  # the training documents' `crf.document_features`
    validation: Sequence[Document]
    iterations: int
    keep_model: bool  # the points are fitted with the final iterations: the winner's model is kept, not refitted


def fit_point(data: GridData, point: tuple[float, float]) -> tuple[dict[str, Any], Any]:
    """A grid point fitted and scored on validation: its record, and its model when `data.keep_model` (else
    None, so that no worker sends back a model that is not kept)."""
    c1, c2 = point
    started = time.perf_counter()
    model = crf.fit_crf(data.train, c1, c2, data.iterations, data.features)
    seconds = time.perf_counter() - started
    predicted = [tags for tags, _ in crf.predict_crf(model, [d.words for d in data.validation])]
    f1 = strict_scores([d.tags for d in data.validation], predicted)["micro"]["f1"]
    record = {"c1": c1, "c2": c2, "iterations": data.iterations, "validation_f1": f1, "fit_seconds": seconds}
    return record, model if data.keep_model else None


def search_grid(
    config: CRFConfig, train: Sequence[Document], validation: Sequence[Document]
) -> tuple[Any, list[dict[str, Any]], dict[str, Any]]:
    """The fitted CRF of the grid's best validation point, every point's record, and the grid's cost
    (`grid_seconds`, `grid_fit_seconds_total`, `workers`)."""
    points = [(c1, c2) for c1 in config.c1 for c2 in config.c2]
    iterations = config.max_iterations if len(points) == 1 else min(config.grid_iterations, config.max_iterations)
    features = [crf.document_features(d.words) for d in train]
    data = GridData(train, features, validation, iterations, iterations == config.max_iterations)
    workers = worker_count(config.workers, len(points))
    started = time.perf_counter()
    found = map_in_order(fit_point, points, workers, data)
    seconds = time.perf_counter() - started
    grid = [record for record, _ in found]
    cost = {
        "grid_seconds": seconds if len(points) > 1 else 0.0,
        "grid_fit_seconds_total": sum(point["fit_seconds"] for point in grid) if len(points) > 1 else 0.0,
        "workers": workers,
    }
    best = max(range(len(points)), key=lambda index: grid[index]["validation_f1"])
    if data.keep_model:
        return found[best][1], grid, cost
    return crf.fit_crf(train, *points[best], config.max_iterations, features), grid, cost


def train_crf(config: CRFConfig) -> Path:
    """Tune, fit, predict, score and record the CRF baseline; return its run directory."""
    prepared = prepared_with_test(config.output_dir)
    run = open_run(
        config.output_dir, run_name(crf.MODEL_NAME), crf.MODEL_NAME, dataclasses.asdict(config), prepared, config.wandb
    )
    started = time.perf_counter()
    model, grid, cost = search_grid(config, prepared.parts["train"], prepared.parts["validation"])
    seconds = time.perf_counter() - started
    crf.save_crf(model, run.folder.crf_model)
    write_tags(run.folder.model_tags, prepared.tag2id)
    chosen = max(grid, key=lambda point: point["validation_f1"])

    def details() -> dict[str, Any]:
        return {
            "epochs": [],
            "grid": grid,
            "selected": {"c1": chosen["c1"], "c2": chosen["c2"]},
            **cost,
            "train_seconds": seconds,
            "peak_memory_mb": peak_cpu_memory_mb(),
            "peak_memory_kind": "cpu_peak_rss",
            "parameters": crf.crf_parameters(model),
            "long_docs": "whole document",
        }

    return close_run(
        run,
        crf.MODEL_NAME,
        prepared,
        lambda documents: crf.predict_crf(model, documents),
        details,
        config.wandb_log_text,
    )
