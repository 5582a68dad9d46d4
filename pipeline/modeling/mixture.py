"""The mixture of a combined model: the fine-tuned transformer and the CRF averaged per word, then decoded.

Both parts give a distribution over the same tags for every word (the transformer its softmax, merged
over windows; the CRF its marginals), so their weighted average is again a distribution and goes
through the same decoders (`pipeline.modeling.decode`). A word the transformer never saw (truncation)
takes the CRF's distribution alone. The weight is chosen on validation (`pipeline.training.combine`).

Rare types are under-predicted: both parts learnt the training prior, where `O` and frequent types
dominate. The prior correction (logit adjustment, Menon et al. 2021) divides each word's distribution
by the training tag prior raised to `tau` and renormalises, `p * prior**-tau / sum(...)`: tau = 0
leaves it as it is, tau = 1 scores tags as if they were equally frequent. tau is chosen on
validation with the weight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def combine_probabilities(transformer: np.ndarray, crf: np.ndarray, weight: float) -> np.ndarray:
    """`weight` * transformer + (1 - `weight`) * CRF per word; rows the transformer left NaN: the CRF's."""
    if transformer.shape != crf.shape:
        raise ValueError(f"the two parts disagree on the shape of a document: {transformer.shape} vs {crf.shape}")
    combined = weight * transformer + (1.0 - weight) * crf
    unseen = np.isnan(transformer).any(axis=1)
    combined[unseen] = crf[unseen]
    return combined


def tag_prior(tag_sequences: Iterable[Sequence[str]], tag2id: dict[str, int]) -> np.ndarray:
    """Each tag's share of the words of `tag_sequences` (the training documents), add-one smoothed so a
    tag never seen in training keeps a non-zero prior (and a finite correction)."""
    counts = np.ones(len(tag2id))
    for tags in tag_sequences:
        for tag in tags:
            counts[tag2id[tag]] += 1
    return counts / counts.sum()


def prior_correct(probabilities: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """`probabilities` * `prior` ** -`tau`, renormalised per row; tau = 0 returns them unchanged and NaN
    rows (words no window covered) stay NaN for the decoder to handle."""
    if tau == 0.0:
        return probabilities
    adjusted = probabilities * prior**-tau
    return adjusted / adjusted.sum(axis=1, keepdims=True)


def combine_documents(
    transformer: Sequence[np.ndarray],
    crf: Sequence[np.ndarray],
    weight: float,
    prior: np.ndarray | None = None,
    tau: float = 0.0,
) -> list[np.ndarray]:
    """Every document's averaged distributions, prior-corrected with `tau` when a `prior` is given."""
    combined = [combine_probabilities(t, c, weight) for t, c in zip(transformer, crf)]
    return combined if prior is None else [prior_correct(rows, prior, tau) for rows in combined]
