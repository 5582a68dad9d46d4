"""Which epoch a run keeps and when it stops: the Trainer's early-stopping rule, also replayed on recorded
epochs (torch-free, so the report can read it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SELECTION_METRICS = {"micro": "f1", "macro": "macro_f1", "mean": "mean_f1"}  # --select-on -> validation key


def selection_key(select_on: str) -> str:
    """The key of an epoch record (`metrics.json` `epochs`) that `select_on` compares."""
    return "val_" + SELECTION_METRICS[select_on]


def kept_epoch(epochs: Sequence[dict[str, Any]], select_on: str) -> dict[str, Any]:
    """The epoch the Trainer keeps: the first with the highest validation score of `select_on` (the
    Trainer replaces its best only on a strict improvement); an empty record when no epoch was scored."""
    key = selection_key(select_on)
    scored = [e for e in epochs if e.get(key) is not None]
    return max(scored, key=lambda e: e[key]) if scored else {}


def early_stop(
    epochs: Sequence[dict[str, Any]], select_on: str, patience: int, planned: int | None = None
) -> dict[str, Any] | None:
    """Replay early stopping on recorded epochs: the epoch a run with `select_on` and `patience` would stop
    after (the Trainer stops when `patience` evaluations in a row fail to beat the best; at the epoch limit
    otherwise) and the epoch it would keep. Training does not depend on when it stops (its schedule is set by
    the planned epochs), so the replay is exact; None when the recorded run ended (by its own rule) before
    this rule would stop and before its `planned` epochs, so the answer lies in epochs never run."""
    key = selection_key(select_on)
    best: dict[str, Any] = {}
    waited = 0
    for epoch in epochs:
        if not best or epoch[key] > best[key]:
            best, waited = epoch, 0
        else:
            waited += 1
        if waited >= patience:
            return {"stopped": epoch["epoch"], "kept": best}
    if not epochs or (planned is not None and epochs[-1]["epoch"] < planned):
        return None
    return {"stopped": epochs[-1]["epoch"], "kept": best}
