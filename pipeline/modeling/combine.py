"""The combined model: the fine-tuned transformer and the CRF averaged per word, then decoded.

Both parts give a distribution over the same tags for every word (the transformer its softmax, merged
over windows; the CRF its marginals), so their weighted average is again a distribution and goes
through the same decoders (`pipeline.modeling.decode`). A word the transformer never saw (truncation)
takes the CRF's distribution alone. The weight is chosen on validation (`pipeline.training.combine`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def combine_probabilities(transformer: np.ndarray, crf: np.ndarray, weight: float) -> np.ndarray:
    """`weight` * transformer + (1 - `weight`) * CRF per word; rows the transformer left NaN: the CRF's."""
    if transformer.shape != crf.shape:
        raise ValueError(f"the two parts disagree on the shape of a document: {transformer.shape} vs {crf.shape}")
    combined = weight * transformer + (1.0 - weight) * crf
    unseen = np.isnan(transformer).any(axis=1)
    combined[unseen] = crf[unseen]
    return combined


def combine_documents(transformer: Sequence[np.ndarray], crf: Sequence[np.ndarray], weight: float) -> list[np.ndarray]:
    return [combine_probabilities(t, c, weight) for t, c in zip(transformer, crf)]
