"""What every kind of run is once loaded: a `Tagger`, and the one loader that picks the kind from the run folder.

    transformer   `pipeline.modeling.backends.TransformerTagger` (softmax merged over windows, any variant)
    crf           `pipeline.modeling.crf.CRFTagger` (crfsuite's marginals; Viterbi tags)
    combined      `pipeline.modeling.mixture.CombinedTagger` (the two averaged per word, prior-corrected)

`predict_proba` is the one inference path: `combine` averages its parts' `predict_proba` on validation and
test, and `predict` and `bench` run `predict` (tags and confidences) of whatever `load_tagger` returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from pipeline.core.layout import RunFolder
from pipeline.modeling.backends import TransformerTagger
from pipeline.modeling.crf import CRFTagger
from pipeline.modeling.mixture import CombinedTagger


@runtime_checkable
class Tagger(Protocol):
    """A loaded run: word-level probabilities over the run's tags, tags, and its model/ written and read back."""

    @property
    def id2tag(self) -> dict[int, str]:
        """The run's tags by id: the columns of `predict_proba`."""
        ...

    @property
    def device(self) -> str:
        """Where it runs ("cpu", "cuda", ...)."""
        ...

    def predict_proba(self, documents: Sequence[Sequence[str]], batch_size: int = 32) -> list[np.ndarray]:
        """(n_words, n_tags) probabilities per document given as its words, columns in `id2tag`'s order;
        `batch_size` windows per forward pass where there is an encoder."""
        ...

    def predict(self, documents: Sequence[Sequence[str]], batch_size: int = 32) -> list[tuple[list[str], list[float]]]:
        """(IOB2 tags, confidence of each word's tag) per document."""
        ...

    def save(self, folder: str | Path) -> None:
        """Write the model/ of the run folder `folder`, what `load` reads back."""
        ...

    @classmethod
    def load(
        cls,
        folder: str | Path,
        variant: str = "fp32",
        device: str | None = None,
        windows: tuple[int, int] | None = None,
    ) -> Tagger:
        """The run folder's model in `variant` on `device`, with `windows` (max_length, overlap) instead of
        the run's own when given (the last three only where there is a transformer)."""
        ...


TAGGERS: dict[str, type[TransformerTagger] | type[CRFTagger] | type[CombinedTagger]] = {
    "transformer": TransformerTagger,
    "crf": CRFTagger,
    "combined": CombinedTagger,
}


def tagger_kind(run_dir: str | Path) -> str:
    """ "combined", "crf" or "transformer", from what the run saved under model/."""
    folder = RunFolder(run_dir)
    if folder.combined.exists():
        return "combined"
    return "crf" if folder.crf_model.exists() else "transformer"


def load_tagger(
    run_dir: str | Path, variant: str = "fp32", device: str | None = None, windows: tuple[int, int] | None = None
) -> Tagger:
    """Any finished run, as its kind's `Tagger` (`TAGGERS`, picked by `tagger_kind`)."""
    return TAGGERS[tagger_kind(run_dir)].load(run_dir, variant, device, windows)
