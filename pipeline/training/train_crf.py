"""`python -m pipeline train --model crf`: fit the CRF baseline and record it like any other run."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from pipeline.config import CRFConfig, run_name
from pipeline.core.layout import write_tags
from pipeline.core.provenance import peak_cpu_memory_mb
from pipeline.modeling import crf
from pipeline.training.recorder import close_run, open_run, prepared_with_test


def train_crf(config: CRFConfig) -> Path:
    """Fit, predict, score and record the CRF baseline; return its run directory."""
    prepared = prepared_with_test(config.output_dir)
    run = open_run(
        config.output_dir, run_name(crf.MODEL_NAME), crf.MODEL_NAME, dataclasses.asdict(config), prepared, config.wandb
    )
    started = time.perf_counter()
    model = crf.fit_crf(config, prepared.parts["train"])
    seconds = time.perf_counter() - started
    crf.save_crf(model, run.folder.crf_model)
    write_tags(run.folder.model_tags, prepared.tag2id)

    def details() -> dict[str, Any]:
        return {
            "epochs": [],
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
