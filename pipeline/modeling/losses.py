"""Training losses for the rare-type levers: class-weighted and focal cross-entropy over the labelled
wordpieces (`-100` ignored), as the Trainer's `compute_loss_func`.

Both reduce like transformers' own token-classification loss: a sum over labelled positions divided by
the labelled positions of the whole accumulated batch (`num_items_in_batch`) when the Trainer passes it,
else a mean. The validation loss of a run trained with them is the same loss.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.modeling.features import IGNORE_INDEX

LOSSES = ("cross-entropy", "class-weighted", "focal")


def class_weights(labels: Sequence[Sequence[int]], n_tags: int, power: float = 0.5) -> list[float]:
    """Inverse-frequency tag weights from the training labels, damped by `power` (0.5: the square root, so
    a tag 100x rarer weighs 10x more) and scaled so the labelled training positions weigh 1 on average (the
    loss keeps its scale, the learning rate its meaning). A tag absent from training gets the largest weight."""
    counts = Counter(label for window in labels for label in window if label != IGNORE_INDEX)
    total = sum(counts.values())
    raw = [(total / counts[tag]) ** power if counts.get(tag) else 0.0 for tag in range(n_tags)]
    unseen = max(raw) if any(raw) else 1.0
    raw = [weight or unseen for weight in raw]
    mean = sum(raw[tag] * count for tag, count in counts.items()) / total if total else 1.0
    return [weight / mean for weight in raw]


def token_loss(kind: str, weights: Sequence[float] | None = None, gamma: float = 2.0) -> Callable[..., Any] | None:
    """The Trainer's `compute_loss_func` for `kind`; None for plain cross-entropy (the model's own loss)."""
    if kind == "cross-entropy":
        return None
    import torch
    import torch.nn.functional as F

    weight = None
    if kind == "class-weighted":
        if not weights:
            raise ValueError("the class-weighted loss needs the class weights of the training labels")
        weight = torch.tensor(list(weights), dtype=torch.float32)

    def loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs["logits"].float()
        flat, target = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).to(logits.device)
        if weight is not None:
            per_position = F.cross_entropy(
                flat, target, weight=weight.to(logits.device), ignore_index=IGNORE_INDEX, reduction="none"
            )
        else:  # focal: down-weights positions the model already gets right, (1 - p)^gamma
            log_p = F.log_softmax(flat, dim=-1)
            kept = target != IGNORE_INDEX
            picked = log_p[kept.nonzero(as_tuple=True)[0], target[kept]]
            per_position = torch.zeros_like(target, dtype=log_p.dtype)
            per_position[kept] = -((1 - picked.exp()) ** gamma) * picked
        total = per_position.sum()
        items = num_items_in_batch if num_items_in_batch is not None else (target != IGNORE_INDEX).sum().clamp(min=1)
        return total / items

    return loss


def oversample(
    features: list[dict[str, list[int]]], rare_tags: set[int], copies: int
) -> tuple[list[dict[str, list[int]]], int]:
    """The training windows with `copies` extra copies of every window that holds a rare type's tag
    (`rare_tags`: the B-/I- ids of the rare tier's types); returns (windows, windows repeated)."""
    holding = [window for window in features if rare_tags.intersection(window["labels"])]
    return features + [window for _ in range(copies) for window in holding], len(holding)
