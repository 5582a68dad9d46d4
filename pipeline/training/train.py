"""`python -m pipeline train`: one tracked training run, from prepared data to a run directory.

fit each learning rate (pipeline.modeling.trainer) -> keep the best on validation -> predict validation and
test over whole documents (pipeline.modeling.tagging) -> strict seqeval -> write the run directory
(pipeline.core.layout) -> log to W&B (pipeline.training.tracking). `--resume RUN_DIR` continues an interrupted
run: finished learning rates are kept, the interrupted one restarts from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from pipeline.config import TrainConfig, model_label, run_name
from pipeline.data.prepare import load_prepared
from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json, write_json
from pipeline.modeling.tagging import predict_documents
from pipeline.core.layout import (peak_cpu_memory_mb, prediction_record, read_run_config, run_config, runs_dir,
                           write_metrics, write_predictions)
from pipeline.evaluation.metrics import strict_scores
from pipeline.training.tracking import Tracker, log_run, start_tracking
from pipeline.modeling.trainer import FitResult, LabelSetMismatch, fit, model_max_length

log = logging.getLogger(__name__)
EVAL_PARTS = ("validation", "test")


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
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            if logs and "loss" in logs and state.is_world_process_zero:
                tracker.log({f"{prefix}train/loss": logs["loss"], f"{prefix}train/epoch": state.epoch,
                             f"{prefix}train/learning_rate": logs.get("learning_rate")})

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: ANN001
            if not metrics or not state.is_world_process_zero:
                return
            tracker.log({f"{prefix}val/loss": metrics.get("eval_loss"), f"{prefix}val/f1": metrics.get("eval_f1"),
                         f"{prefix}val/macro_f1": metrics.get("eval_macro_f1"), f"{prefix}epoch": state.epoch})
            print(f"{prefix}epoch {state.epoch:.0f}: val loss {metrics.get('eval_loss', float('nan')):.4f}, "
                  f"val strict micro-F1 {metrics.get('eval_f1', 0.0):.4f}", flush=True)

    return EpochLogger()


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_cpu_memory_mb()


def save_model(result: FitResult, folder: Path, tag2id: dict[str, int]) -> None:
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    result.model.save_pretrained(tmp)
    result.tokenizer.save_pretrained(tmp)
    write_json(tmp / "tags.json", {"tag2id": tag2id, "id2tag": {str(i): t for t, i in tag2id.items()}})
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def train_run(config: TrainConfig, resume: Path | None = None) -> Path:
    """Train, predict, score and record one run; return its directory."""
    saved = read_run_config(resume) if resume is not None else {}
    if resume is not None:
        config = TrainConfig(**saved["train"])
    prepared = load_prepared(config.output_dir)
    if not prepared.parts["test"]:
        raise ConfigError("the test part is empty: rebuild the data with a test size above 0")
    if resume is not None:
        if saved["tag2id"] != prepared.tag2id:
            raise LabelSetMismatch(f"{resume} was trained with another tag set than {config.output_dir}/data/tags.json;"
                                   " it cannot be resumed on this data")
        name, run_dir, wandb_id = resume.name, resume, saved.get("wandb_id")
    else:
        name = agree_on_name(run_name(config.model, "truncate" if config.long_docs == "truncate" else None))
        run_dir, wandb_id = runs_dir(config.output_dir) / name, None
    main = is_main_process()
    settings = dataclasses.asdict(config)
    record = run_config(name, model_label(config.model), settings, prepared.summary, prepared.split, prepared.tag2id)
    tracker = Tracker()
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        tracker = start_tracking(name, run_dir, record, config.wandb, wandb_id)
        record["wandb_id"] = tracker.run.id if tracker.run is not None else None
        record["wandb_mode"] = tracker.mode
        write_json(run_dir / "config.json", record)

    trials = []
    for lr in config.lr:
        trial_dir = run_dir / "trials" / f"lr-{lr:g}"
        if (trial_dir / "trial.json").exists():
            trials.append(read_json(trial_dir / "trial.json"))
            log.info("learning rate %g already finished (%s)", lr, trial_dir)
            continue
        prefix = f"lr={lr:g}/" if len(config.lr) > 1 else ""
        result = fit(config, lr, prepared.parts["train"], prepared.parts["validation"], prepared.tag2id,
                     trial_dir / "checkpoints", [epoch_logger(tracker, prefix)], resume=resume is not None)
        if not main:
            continue
        trial = {"lr": lr, "best_val_f1": result.best_f1, "epochs": result.epochs,
                 "train_seconds": result.train_seconds, "optimisation_steps": result.optimisation_steps,
                 "warmup_steps": result.warmup_steps, "warmup_note": result.warmup_note,
                 "parameters": sum(p.numel() for p in result.model.parameters())}
        if all(trial["best_val_f1"] > other["best_val_f1"] for other in trials):
            save_model(result, run_dir / "model", prepared.tag2id)
        write_json(trial_dir / "trial.json", trial)
        shutil.rmtree(trial_dir / "checkpoints", ignore_errors=True)
        trials.append(trial)
        del result
    if not main:
        return run_dir
    best = max(trials, key=lambda t: t["best_val_f1"])
    return finish_run(config, run_dir, name, prepared, trials, best, tracker)


def finish_run(config: TrainConfig, run_dir: Path, name: str, prepared: Any, trials: list[dict[str, Any]],
               best: dict[str, Any], tracker: Tracker) -> Path:
    """Predict validation and test with the selected model, write metrics and log everything."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(run_dir / "model")
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "model")
    max_length = model_max_length(model, config.max_length)
    metrics: dict[str, Any] = {"run": name, "model": model_label(config.model)}
    predictions: dict[str, list[dict[str, Any]]] = {}
    for part in EVAL_PARTS:
        documents = prepared.parts[part]
        results = predict_documents(model, tokenizer, [d.words for d in documents], prepared.id2tag, max_length,
                                    config.stride, truncate=config.long_docs == "truncate",
                                    batch_size=config.eval_batch_size)
        predictions[part] = [prediction_record(d.id, d.words, d.tags, tags, confidence)
                             for d, (tags, confidence) in zip(documents, results)]
        write_predictions(run_dir, part, predictions[part])
        metrics[part] = strict_scores([d.tags for d in documents], [tags for tags, _ in results])
    metrics.update({
        "epochs": best["epochs"],
        "selected_lr": best["lr"],
        "lr_search": [{"lr": t["lr"], "best_val_f1": t["best_val_f1"], "epochs_run": len(t["epochs"]),
                       "train_seconds": t["train_seconds"]} for t in trials],
        "train_seconds": best["train_seconds"],
        "train_seconds_all_trials": sum(t["train_seconds"] for t in trials),
        "peak_memory_mb": peak_memory_mb(),
        "peak_memory_kind": "cuda_max_allocated" if torch.cuda.is_available() else "cpu_peak_rss",
        "optimisation_steps": best["optimisation_steps"],
        "warmup": best["warmup_note"],
        "long_docs": config.long_docs,
        "window_length": max_length,
        "parameters": best["parameters"],
    })
    write_metrics(run_dir, metrics)
    config_record = read_json(run_dir / "config.json")
    config_record["parameters"] = best["parameters"]
    write_json(run_dir / "config.json", config_record)
    log_run(tracker, name, run_dir, metrics, predictions, config.wandb_log_text)
    return run_dir
