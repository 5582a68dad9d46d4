"""Prediction over whole documents: every window, merged per word (pipeline.decode).

Windows are batched by length (shortest first) so that a batch pads little; outputs are put back
in window order before merging, so results do not depend on the batching.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pipeline.decode import decode_words, group_by_document, merge_window_scores
from pipeline.features import Window, encode_documents
from pipeline.io import read_json


def window_probabilities(model: Any, windows: Sequence[Window], batch_size: int = 32, pad_id: int = 0) -> list[np.ndarray]:
    """Softmax outputs (len(window), n_labels) for every window, in the order given."""
    import torch

    device = next(model.parameters()).device
    model.eval()
    outputs: list[np.ndarray | None] = [None] * len(windows)
    order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
    with torch.inference_mode():
        for offset in range(0, len(order), batch_size):
            batch = order[offset:offset + batch_size]
            width = max(len(windows[i]) for i in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, index in enumerate(batch):
                length = len(windows[index])
                ids[row, :length] = torch.tensor(windows[index].input_ids)
                mask[row, :length] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            probabilities = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            for row, index in enumerate(batch):
                outputs[index] = probabilities[row, :len(windows[index])]
    return outputs  # type: ignore[return-value]


def predict_documents(model: Any, tokenizer: Any, documents: Sequence[Sequence[str]], id2tag: dict[int, str],
                      max_length: int, stride: int, truncate: bool = False,
                      batch_size: int = 32) -> list[tuple[list[str], list[float]]]:
    """(tags, confidences) per document, each given as its list of words."""
    windows = encode_documents(tokenizer, documents, max_length, stride, truncate=truncate)
    outputs = window_probabilities(model, windows, batch_size, tokenizer.pad_token_id or 0)
    grouped = group_by_document(windows, outputs)
    results = []
    for index, words in enumerate(documents):
        if not words:
            results.append(([], []))
            continue
        doc_windows, doc_outputs = grouped[index]
        merged = merge_window_scores(doc_windows, doc_outputs, len(words), allow_uncovered=truncate)
        results.append(decode_words(merged, id2tag))
    return results


def load_run_model(run_dir: str | Path, device: str | None = None) -> tuple[Any, Any, dict[int, str], dict[str, Any]]:
    """(model, tokenizer, id2tag, train settings) of a finished transformer run."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model_dir = Path(run_dir) / "model"
    if not (model_dir / "config.json").exists():
        raise FileNotFoundError(f"{model_dir} holds no transformer model (is {run_dir} a finished training run?)")
    settings = read_json(Path(run_dir) / "config.json")["train"]
    tags = read_json(model_dir / "tags.json")
    model = AutoModelForTokenClassification.from_pretrained(model_dir)
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return model, tokenizer, {int(k): v for k, v in tags["id2tag"].items()}, settings
