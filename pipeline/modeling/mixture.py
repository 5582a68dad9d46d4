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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import ConfigError, MissingInputError
from pipeline.core.files import write_json
from pipeline.core.layout import RunFolder, read_combined_parts, write_tags
from pipeline.modeling.backends import TransformerTagger
from pipeline.modeling.crf import CRFTagger
from pipeline.modeling.decode import decode_documents


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


@dataclass
class CombinedTagger:
    """A combined run ready to tag: a `pipeline.modeling.tagger.Tagger` averaging its transformer part's
    softmax and its CRF part's marginals per word (`combine_documents`), decoded with its decoder. It
    runs in its transformer's variant and windows (`variant`, `max_length`, ... are the transformer's)."""

    transformer: TransformerTagger
    crf: CRFTagger
    transformer_weight: float
    prior: np.ndarray | None  # the training tag prior by tag id (None: a run combined before the correction)
    prior_tau: float
    decoder: str
    transformer_dir: Path  # the parts' run folders, which save records
    crf_dir: Path

    def __post_init__(self) -> None:
        if self.crf.id2tag != self.transformer.id2tag:
            raise ConfigError(f"the CRF part {self.crf_dir} has other tags than the transformer {self.transformer_dir}")

    @property
    def id2tag(self) -> dict[int, str]:
        return self.transformer.id2tag

    @property
    def device(self) -> str:
        return self.transformer.device

    @property
    def variant(self) -> str:
        return self.transformer.variant

    @property
    def tokenizer(self) -> Any:
        return self.transformer.tokenizer

    @property
    def max_length(self) -> int:
        return self.transformer.max_length

    @property
    def overlap(self) -> int:
        return self.transformer.overlap

    @property
    def truncate(self) -> bool:
        return self.transformer.truncate

    def predict_proba(self, documents: Sequence[Sequence[str]], batch_size: int = 32) -> list[np.ndarray]:
        """(n_words, n_tags) averaged and prior-corrected distributions per document."""
        return combine_documents(
            self.transformer.predict_proba(documents, batch_size),
            self.crf.predict_proba(documents),
            self.transformer_weight,
            self.prior,
            self.prior_tau,
        )

    def predict(self, documents: Sequence[Sequence[str]], batch_size: int = 32) -> list[tuple[list[str], list[float]]]:
        return decode_documents(self.predict_proba(documents, batch_size), self.id2tag, self.decoder)

    def save(self, folder: str | Path) -> None:
        """The run folder's model/tags.json and model/combined.json, which names the parts (their runs stay
        where they are), the weight, the decoder and the prior correction."""
        run = RunFolder(folder)
        write_tags(run.model_tags, {tag: index for index, tag in self.id2tag.items()})
        write_json(
            run.combined,
            {
                "transformer_run": self.transformer_dir.name,
                "transformer_dir": str(self.transformer_dir.resolve()),
                "crf_run": self.crf_dir.name,
                "crf_dir": str(self.crf_dir.resolve()),
                "weight": self.transformer_weight,
                "decoder": self.decoder,
                "prior_tau": self.prior_tau,
                **(
                    {"prior": {self.id2tag[index]: float(share) for index, share in enumerate(self.prior)}}
                    if self.prior is not None
                    else {}
                ),
            },
        )

    @classmethod
    def load(
        cls,
        folder: str | Path,
        variant: str = "fp32",
        device: str | None = None,
        windows: tuple[int, int] | None = None,
    ) -> CombinedTagger:
        """The parts named by the run's model/combined.json: the transformer in `variant` (with `windows`)
        and the CRF."""
        parts = read_combined_parts(folder)
        if parts is None:
            raise MissingInputError(f"{RunFolder(folder).combined} not found: is {folder} a finished combined run?")
        transformer = TransformerTagger.load(parts["transformer_dir"], variant, device, windows)
        return cls(
            transformer,
            CRFTagger.load(parts["crf_dir"]),
            float(parts["weight"]),
            (
                np.array([parts["prior"][transformer.id2tag[index]] for index in range(len(transformer.id2tag))])
                if "prior" in parts
                else None
            ),
            float(parts.get("prior_tau", 0.0)),  # runs combined before the correction: none
            parts["decoder"],
            Path(parts["transformer_dir"]),
            Path(parts["crf_dir"]),
        )
