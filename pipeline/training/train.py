"""`python -m pipeline train`: one tracked training run, from prepared data to a run directory.

A transformer: fit each learning rate (pipeline.modeling.trainer) -> keep the best on validation ->
predict validation and test over whole documents (pipeline.modeling.tagging) -> record the run
(pipeline.training.recorder: strict seqeval, the run directory, W&B). `--model crf` runs
`pipeline.training.train_crf` instead. `--resume RUN_DIR` continues an interrupted run: finished
learning rates are kept, the interrupted one restarts from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.config import TrainConfig
from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json, write_json
from pipeline.core.layout import read_run_config, run_name
from pipeline.core.provenance import peak_cpu_memory_mb
from pipeline.data.prepare import PreparedData
from pipeline.modeling.registry import model_label
from pipeline.modeling.stopping import selection_key
from pipeline.modeling.tagging import predict_documents, save_run_model
from pipeline.modeling.trainer import (
    LabelSetMismatch,
    ensure_model_available,
    fit,
    model_max_length,
    resolve_precision,
)
from pipeline.training.recorder import OpenRun, close_run, open_run, prepared_with_test
from pipeline.training.tracking import Tracker

log = logging.getLogger(__name__)


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def agree_on_name(name: str) -> str:
    """Under torchrun/accelerate every process must use rank 0's run name (timestamps differ)."""
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return name
    import torch.distributed as dist
    from accelerate import PartialState

    PartialState()  # joins the process group (gloo on CPU, nccl on GPU)
    shared = [name]
    dist.broadcast_object_list(shared, src=0)
    return shared[0]


def epoch_logger(tracker: Tracker, prefix: str) -> Any:
    """A Trainer callback: training loss, validation loss and F1 to W&B and one line per epoch."""
    from transformers import TrainerCallback

    class EpochLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs and state.is_world_process_zero:
                tracker.log(
                    {
                        f"{prefix}train/loss": logs["loss"],
                        f"{prefix}train/epoch": state.epoch,
                        f"{prefix}train/learning_rate": logs.get("learning_rate"),
                    }
                )

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if not metrics or not state.is_world_process_zero:
                return
            tracker.log(
                {
                    f"{prefix}val/loss": metrics.get("eval_loss"),
                    f"{prefix}val/f1": metrics.get("eval_f1"),
                    **{
                        f"{prefix}val/{key.removeprefix('eval_')}": value
                        for key, value in metrics.items()
                        if key.endswith("_f1") and key != "eval_f1"
                    },
                    f"{prefix}epoch": state.epoch,
                }
            )
            print(
                f"{prefix}epoch {state.epoch:.0f}: val loss {metrics.get('eval_loss', float('nan')):.4f}, "
                f"val strict micro-F1 {metrics.get('eval_f1', 0.0):.4f}, macro-F1 {metrics.get('eval_macro_f1', 0.0):.4f}",
                flush=True,
            )

    return EpochLogger()


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_cpu_memory_mb()


def selection_score(trial: dict[str, Any]) -> float:
    """A learning rate's validation score at its kept epoch, by the metric it was selected on (a trial
    recorded before `select_on` existed selected on micro-F1)."""
    return trial.get("best_val_score", trial["best_val_f1"])


def train_seeds(config: TrainConfig) -> list[Path]:
    """One run per seed of `--seeds` (each recording its own `seed`), else the one run of `--seed`."""
    if len(set(config.seeds)) != len(config.seeds):
        raise ConfigError(f"--seeds {','.join(map(str, config.seeds))} repeats a seed; each seed is one run")
    if not config.seeds:
        return [train_run(config)]
    return [train_run(dataclasses.replace(config, seed=seed)) for seed in config.seeds]


def train_run(config: TrainConfig, resume: Path | None = None) -> Path:
    """Train, predict, score and record one transformer run; return its directory."""
    saved = read_run_config(resume) if resume is not None else {}
    if resume is not None:
        config = TrainConfig(**saved["train"])
    ensure_model_available(config.model)  # first: an unreachable model leaves no run folder
    config = dataclasses.replace(config, precision=resolve_precision(config.precision))  # recorded as run
    prepared = prepared_with_test(config.output_dir)
    if resume is not None:
        if saved["tag2id"] != prepared.tag2id:
            raise LabelSetMismatch(
                f"{resume} was trained with another tag set than {config.output_dir}/data/tags.json;"
                " it cannot be resumed on this data"
            )
        name, wandb_id = resume.name, saved.get("wandb_id")
    else:
        variant = "-".join(
            [f"{config.encoder_layers}layers"] * bool(config.encoder_layers)
            + ["truncate"] * (config.long_docs == "truncate")
            + [f"seed{config.seed}"] * bool(config.seeds)
        )
        name, wandb_id = agree_on_name(run_name(model_label(config.model), variant or None)), None
    main = is_main_process()
    run = open_run(
        config.output_dir,
        name,
        model_label(config.model),
        dataclasses.asdict(config),
        prepared,
        config.wandb,
        wandb_id,
        main,
    )
    trials: list[dict[str, Any]] = []
    for lr in config.lr:
        trial_dir = run.folder.trial(lr)
        if (trial_dir / "trial.json").exists():
            trials.append(read_json(trial_dir / "trial.json"))
            log.info("learning rate %g already finished (%s)", lr, trial_dir)
            continue
        prefix = f"lr={lr:g}/" if len(config.lr) > 1 else ""
        result = fit(
            config,
            lr,
            prepared.parts["train"],
            prepared.parts["validation"],
            prepared.tag2id,
            trial_dir / "checkpoints",
            [epoch_logger(run.tracker, prefix)],
            resume=resume is not None,
            type_tiers={t: info["tier"] for t, info in prepared.summary["types"].items()},
        )
        if not main:
            continue
        trial = {
            "lr": lr,
            "best_val_f1": result.kept.get("val_f1", 0.0),
            "select_on": config.select_on,
            "best_val_score": result.kept.get(selection_key(config.select_on), 0.0),
            "epochs": result.epochs,
            "train_seconds": result.train_seconds,
            "optimisation_steps": result.optimisation_steps,
            "warmup_steps": result.warmup_steps,
            "warmup_note": result.warmup_note,
            "parameters": sum(p.numel() for p in result.model.parameters()),
        }
        if all(selection_score(trial) > selection_score(other) for other in trials):
            save_run_model(result.model, result.tokenizer, prepared.tag2id, run.folder.path)
        write_json(trial_dir / "trial.json", trial)
        shutil.rmtree(trial_dir / "checkpoints", ignore_errors=True)
        trials.append(trial)
        del result
    if not main:
        return run.folder.path
    return finish_transformer_run(config, run, prepared, trials)


def finish_transformer_run(
    config: TrainConfig, run: OpenRun, prepared: PreparedData, trials: list[dict[str, Any]]
) -> Path:
    """Predict validation and test with the model of the best learning rate and record the run."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    best = max(trials, key=selection_score)
    model = AutoModelForTokenClassification.from_pretrained(run.folder.model)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(run.folder.model)
    max_length = model_max_length(model, config.max_length)

    def predict(documents: Sequence[Sequence[str]]) -> Any:
        return predict_documents(
            model,
            tokenizer,
            documents,
            prepared.id2tag,
            max_length,
            config.overlap,
            truncate=config.long_docs == "truncate",
            batch_size=config.eval_batch_size,
            decoder=config.decoder,
        )

    def details() -> dict[str, Any]:
        return {
            "epochs": best["epochs"],
            "selected_lr": best["lr"],
            "select_on": config.select_on,
            "lr_search": [
                {
                    "lr": t["lr"],
                    "best_val_f1": t["best_val_f1"],
                    "best_val_score": selection_score(t),
                    "epochs_run": len(t["epochs"]),
                    "train_seconds": t["train_seconds"],
                }
                for t in trials
            ],
            "train_seconds": best["train_seconds"],
            "train_seconds_all_trials": sum(t["train_seconds"] for t in trials),
            "peak_memory_mb": peak_memory_mb(),
            "peak_memory_kind": "cuda_max_allocated" if torch.cuda.is_available() else "cpu_peak_rss",
            "optimisation_steps": best["optimisation_steps"],
            "warmup": best["warmup_note"],
            "long_docs": config.long_docs,
            "max_length": max_length,
            "parameters": best["parameters"],
        }

    return close_run(run, model_label(config.model), prepared, predict, details, config.wandb_log_text)
