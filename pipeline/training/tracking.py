"""Weights & Biases tracking (Task 1.0.2): project `Medical_NER_FineTuning`, run name = run directory.

Credentials: `WANDB_API_KEY`, else the Kaggle secret `WANDB_API_KEY`, else offline mode with a
one-line notice. Never a prompt, never a crash: if an online start fails the run continues
offline. Offline runs live in `<run_dir>/wandb/` and sync later with `wandb sync <that folder>`.
Privacy: document text (words, span text) is not uploaded unless `log_text` is set.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline.config import PROJECT
from pipeline.core.files import write_jsonl
from pipeline.core.layout import RunFolder

log = logging.getLogger(__name__)


def kaggle_secret(name: str = "WANDB_API_KEY") -> str | None:
    """The Kaggle notebook secret, when running on Kaggle with the secret attached."""
    try:
        from kaggle_secrets import UserSecretsClient
    except ImportError:
        return None
    try:
        return UserSecretsClient().get_secret(name)
    except Exception:  # the client raises its own error types when the secret is not attached
        return None


def api_key() -> str | None:
    return os.environ.get("WANDB_API_KEY") or kaggle_secret()


@dataclass
class Tracker:
    """A W&B run, or nothing (`run is None`) when tracking is off; every method is then a no-op."""

    run: Any = None
    mode: str = "disabled"

    def log(self, values: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.log(values)

    def summary(self, values: dict[str, Any]) -> None:
        if self.run is not None:
            self.run.summary.update(values)

    def table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Table(columns=list(columns), data=[list(row) for row in rows])})

    def artifact(self, name: str, kind: str, paths: Sequence[Path], metadata: dict[str, Any] | None = None) -> None:
        if self.run is None:
            return
        import wandb

        artifact = wandb.Artifact(name, type=kind, metadata=metadata or {})
        for path in paths:
            if Path(path).is_dir():
                artifact.add_dir(str(path))
            else:
                artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


def start_tracking(
    run_name: str, run_dir: Path, config: dict[str, Any], enabled: bool = True, resume_id: str | None = None
) -> Tracker:
    if not enabled:
        return Tracker()
    import wandb

    key = api_key()
    mode: Literal["online", "offline"] = "online" if key else "offline"
    if not key:
        print(
            f"W&B: no WANDB_API_KEY (env or Kaggle secret); logging offline to {run_dir}/wandb "
            f"(sync later with `wandb sync {run_dir}/wandb/offline-run-*`)"
        )
    else:
        os.environ["WANDB_API_KEY"] = key
    settings = wandb.Settings(init_timeout=60, console="off", silent=True, x_disable_stats=True)
    kwargs: dict[str, Any] = dict(
        project=PROJECT,
        name=run_name,
        dir=str(run_dir),
        config=config,
        settings=settings,
        id=resume_id,
        resume="allow" if resume_id else None,
    )
    try:
        run = wandb.init(mode=mode, **kwargs)
    except Exception as exc:  # network, auth: fall back to offline rather than fail the training
        if mode == "offline":
            raise
        print(f"W&B: online start failed ({type(exc).__name__}: {exc}); logging offline instead")
        mode = "offline"
        run = wandb.init(mode=mode, **kwargs)
    return Tracker(run, mode)


def redacted(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Predictions without document text, for upload when text logging is off."""
    return [
        {
            **{k: v for k, v in r.items() if k != "words"},
            "spans": [{k: v for k, v in s.items() if k != "text"} for s in r["spans"]],
        }
        for r in records
    ]


def log_run(
    tracker: Tracker,
    name: str,
    run_dir: Path,
    metrics: dict[str, Any],
    predictions: dict[str, list[dict[str, Any]]],
    log_text: bool,
) -> None:
    """Summary metrics, the per-type table and the model and predictions artifacts."""
    test = metrics["test"]
    summary = {
        "test/micro_f1": test["micro"]["f1"],
        "test/micro_precision": test["micro"]["precision"],
        "test/micro_recall": test["micro"]["recall"],
        "test/macro_f1": test["macro"]["f1"],
        "validation/micro_f1": metrics["validation"]["micro"]["f1"],
        "train_seconds": metrics["train_seconds"],
        "peak_memory_mb": metrics["peak_memory_mb"],
        "selected_lr": metrics.get("selected_lr"),
    }
    tracker.summary({key: value for key, value in summary.items() if value is not None})
    tracker.table(
        "test/per_type",
        ["type", "precision", "recall", "f1", "support"],
        [[t, v["precision"], v["recall"], v["f1"], v["support"]] for t, v in test["per_type"].items()],
    )
    tracker.artifact(f"{name}-model", "model", [RunFolder(run_dir).model], {"test_micro_f1": test["micro"]["f1"]})
    if log_text:
        tracker.artifact(f"{name}-predictions", "predictions", [RunFolder(run_dir).predictions("test").parent])
    elif tracker.run is not None:
        with tempfile.TemporaryDirectory() as tmp:
            for part, records in predictions.items():
                write_jsonl(Path(tmp) / f"{part}.jsonl", redacted(records))
            tracker.artifact(f"{name}-predictions", "predictions", [Path(tmp)], {"text": "redacted"})
            tracker.finish()  # uploads (or stores offline) before the temporary files go
    tracker.finish()
