"""Prediction over whole documents: every window, merged per word (pipeline.modeling.decode).

Windows are batched by length (shortest first) so that a batch pads little; outputs are put back
in window order before merging, so results do not depend on the batching.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import MissingInputError
from pipeline.core.files import file_system_faults
from pipeline.core.layout import RunFolder, missing_model_files, read_run_config, read_tags, write_tags
from pipeline.modeling.decode import decode_documents, group_by_document, merge_window_scores, softmax
from pipeline.modeling.features import Window, encode_documents

Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (input ids, attention mask) -> logits


def batched_probabilities(
    forward: Forward, windows: Sequence[Window], batch_size: int = 32, pad_id: int = 0
) -> list[np.ndarray]:
    """Softmax outputs (len(window), n_labels) for every window, in the order given, from any backend.

    `forward` takes int64 arrays (batch, width) and returns logits (batch, width, n_labels); the
    torch model, its int8 copy and ONNX Runtime sessions (pipeline.modeling.backends) all plug in here.
    """
    outputs: list[np.ndarray | None] = [None] * len(windows)
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    for offset in range(0, len(order), batch_size):
        batch = order[offset : offset + batch_size]
        width = max(len(windows[i]) for i in batch)
        ids = np.full((len(batch), width), pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, index in enumerate(batch):
            length = len(windows[index])
            ids[row, :length] = windows[index].input_ids
            mask[row, :length] = 1
        probabilities = softmax(np.asarray(forward(ids, mask), dtype=np.float32))
        for row, index in enumerate(batch):
            outputs[index] = probabilities[row, : len(windows[index])]
    return outputs  # type: ignore[return-value]


def torch_forward(model: Any) -> Forward:
    """A `Forward` running a transformers model on its own device (any dtype; logits come back fp32)."""
    import torch

    device = next(model.parameters()).device
    model.eval()

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = model(
                input_ids=torch.from_numpy(ids).to(device), attention_mask=torch.from_numpy(mask).to(device)
            ).logits
            return logits.float().cpu().numpy()

    return forward


def word_probabilities(
    model: Any,
    tokenizer: Any,
    documents: Sequence[Sequence[str]],
    max_length: int,
    overlap: int,
    truncate: bool = False,
    batch_size: int = 32,
    forward: Forward | None = None,
) -> list[np.ndarray]:
    """(n_words, n_labels) softmax per document, each given as its list of words; rows of words no
    window covered (truncation) are NaN. `forward` replaces the torch model (pass model=None) with
    another backend (pipeline.modeling.backends)."""
    windows = encode_documents(tokenizer, documents, max_length, overlap, truncate=truncate)
    outputs = batched_probabilities(forward or torch_forward(model), windows, batch_size, tokenizer.pad_token_id or 0)
    grouped = group_by_document(windows, outputs)
    merged: list[np.ndarray] = []
    for index, words in enumerate(documents):
        if not words:
            merged.append(np.zeros((0, outputs[0].shape[-1] if outputs else 0), dtype=np.float32))
            continue
        doc_windows, doc_outputs = grouped[index]
        merged.append(merge_window_scores(doc_windows, doc_outputs, len(words), allow_uncovered=truncate))
    return merged


def predict_documents(
    model: Any,
    tokenizer: Any,
    documents: Sequence[Sequence[str]],
    id2tag: dict[int, str],
    max_length: int,
    overlap: int,
    truncate: bool = False,
    batch_size: int = 32,
    forward: Forward | None = None,
    decoder: str = "viterbi",
) -> list[tuple[list[str], list[float]]]:
    """(tags, confidences) per document, each given as its list of words (`word_probabilities`, then
    `pipeline.modeling.decode.decode_documents` with `decoder`)."""
    probabilities = word_probabilities(model, tokenizer, documents, max_length, overlap, truncate, batch_size, forward)
    return decode_documents(probabilities, id2tag, decoder)


def load_run_model(run_dir: str | Path, device: str | None = None) -> tuple[Any, Any, dict[int, str], dict[str, Any]]:
    """(model, tokenizer, id2tag, train settings) of a finished transformer run."""
    import torch
    from transformers import AutoModelForTokenClassification

    check_run_model(run_dir, weights=True)
    tokenizer, id2tag, settings = load_run_tokenizer(run_dir)
    model = AutoModelForTokenClassification.from_pretrained(RunFolder(run_dir).model)
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return model, tokenizer, id2tag, settings


def save_run_model(model: Any, tokenizer: Any, tag2id: dict[str, int], run_dir: str | Path) -> None:
    """Write the run's model/ (the model, its tokenizer and tag map) whole or not at all: a sibling folder
    renamed into place."""
    folder = RunFolder(run_dir).model
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with file_system_faults(tmp, probe=True):  # safetensors and torch raise their own errors on a full disk
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            write_tags(tmp / "tags.json", tag2id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def check_run_model(run_dir: str | Path, weights: bool) -> None:
    """A run's model/ must hold what loading it reads (its weights only when the torch model runs): one line
    listing what is missing and the command that makes it, instead of transformers' traceback about one file."""
    folder = RunFolder(run_dir)
    if folder.crf_model.exists():
        raise MissingInputError(f"{folder.model} holds no transformer model ({run_dir} is a CRF run)")
    if folder.combined.exists():
        raise MissingInputError(f"{folder.model} holds no transformer model ({run_dir} is a combined run)")
    missing = missing_model_files(folder.model, tag_map=True, weights=weights)
    if not missing:
        return
    found = f"is incomplete, missing {', '.join(missing)}" if folder.model.is_dir() else "does not exist"
    fix = (
        f"train the run again (its settings are in {folder.config})"
        if folder.metrics.exists()
        else f"the run did not finish: `python -m pipeline train --resume {folder.path}` continues it"
    )
    raise MissingInputError(f"{folder.model} {found}: `python -m pipeline train` makes it; {fix}")


def load_run_tokenizer(run_dir: str | Path) -> tuple[Any, dict[int, str], dict[str, Any]]:
    """(tokenizer, id2tag, train settings) of a finished transformer run: what a backend that does not run
    the torch model (a cached OpenVINO graph) needs of it."""
    from transformers import AutoTokenizer

    folder = RunFolder(run_dir)
    check_run_model(folder.path, weights=False)
    _, id2tag = read_tags(folder.model_tags)
    return AutoTokenizer.from_pretrained(folder.model), id2tag, read_run_config(folder.path)["train"]
