"""`python -m pipeline train --model crf`: fit the CRF baseline, tuned on validation, and record it like any other run.

`c1` x `c2` is a grid: each point is fitted with `grid_iterations` L-BFGS iterations (cheaper than the
final fit; the points are compared with each other, not with the final model) and scored on the
validation documents (strict micro-F1 of its own decoding); the best point (the first of equals, in
grid order) is refitted with `max_iterations` and kept. A single-point grid is fitted once. metrics.json
adds `grid` [{c1, c2, iterations, validation_f1, fit_seconds}], `selected` {c1, c2},
`grid_seconds` and `train_seconds` (grid plus final fit: the whole cost of the tuned baseline).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import CRFConfig
from pipeline.core.documents import Document
from pipeline.core.layout import run_name, write_tags
from pipeline.core.provenance import peak_cpu_memory_mb
from pipeline.core.scoring import strict_scores
from pipeline.modeling import crf
from pipeline.training.recorder import close_run, open_run, prepared_with_test


def search_grid(
    config: CRFConfig, train: Sequence[Document], validation: Sequence[Document]
) -> tuple[Any, list[dict[str, Any]]]:
    """The fitted CRF of the grid's best validation point, and every point's record."""
    points = [(c1, c2) for c1 in config.c1 for c2 in config.c2]
    iterations = config.max_iterations if len(points) == 1 else min(config.grid_iterations, config.max_iterations)
    features = [crf.document_features(d.words) for d in train]
    grid, models = [], []
    for c1, c2 in points:
        started = time.perf_counter()
        model = crf.fit_crf(train, c1, c2, iterations, features)
        seconds = time.perf_counter() - started
        predicted = [tags for tags, _ in crf.predict_crf(model, [d.words for d in validation])]
        f1 = strict_scores([d.tags for d in validation], predicted)["micro"]["f1"]
        grid.append({"c1": c1, "c2": c2, "iterations": iterations, "validation_f1": f1, "fit_seconds": seconds})
        models.append(model)
    best = max(range(len(points)), key=lambda index: grid[index]["validation_f1"])
    if iterations == config.max_iterations:
        return models[best], grid
    return crf.fit_crf(train, *points[best], config.max_iterations, features), grid


def train_crf(config: CRFConfig) -> Path:
    """Tune, fit, predict, score and record the CRF baseline; return its run directory."""
    prepared = prepared_with_test(config.output_dir)
    run = open_run(
        config.output_dir, run_name(crf.MODEL_NAME), crf.MODEL_NAME, dataclasses.asdict(config), prepared, config.wandb
    )
    started = time.perf_counter()
    model, grid = search_grid(config, prepared.parts["train"], prepared.parts["validation"])
    seconds = time.perf_counter() - started
    grid_seconds = sum(point["fit_seconds"] for point in grid) if len(grid) > 1 else 0.0
    crf.save_crf(model, run.folder.crf_model)
    write_tags(run.folder.model_tags, prepared.tag2id)
    chosen = max(grid, key=lambda point: point["validation_f1"])

    def details() -> dict[str, Any]:
        return {
            "epochs": [],
            "grid": grid,
            "selected": {"c1": chosen["c1"], "c2": chosen["c2"]},
            "grid_seconds": grid_seconds,
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
