"""The leak of a row split, measured: what the plan's 340/30/30 split of the 400-row Hugging Face set
reports against our document split, with the same recipe.

`all` rebuilds the structure of the Hugging Face set from the brat copy (every document twice,
`pipeline.data.sources.as_hub_rows`), splits its rows as the plan does (`--split-by rows --versions
all`) and trains the same model on it. `measure_leak` then reads both runs' test predictions and
writes `leak/leak.json`:

    model       the model trained on both splits (the CRF by default)
    rows        {run, parts {train, validation, test: rows}, test_rows, leaked_rows (test rows whose copy is
                 in training), leaked_share, micro_f1, micro_f1_ci}   the row split's own test set
    document    {run, test_documents, micro_f1, micro_f1_ci}  our document split's test set
    inflation   {points, ci [lo, hi]}  row-split F1 minus document-split F1, in points, with a 95%
                 interval from resampling each test set independently (they hold different documents)
    note        what the reconstruction changes: identical copies overstate the leak slightly
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import AnalysisConfig
from pipeline.core.files import read_jsonl
from pipeline.core.layout import Outputs, read_predictions, read_run_config, write_record
from pipeline.evaluation import metrics
from pipeline.evaluation.analyze import run_types

NOTE = (
    "The brat source holds one version of each document, so the rebuilt set holds two identical copies; real "
    "releases can share their texts but differ in some labels, so this slightly overstates the leak."
)


def row_split(output_dir: str | Path) -> dict[str, Any]:
    """Rows per part of a prepared split, and the test rows whose document group also has a row in
    training (read once from its documents.jsonl)."""
    rows = [row for _, row in read_jsonl(Outputs(output_dir).documents)]
    sizes = Counter(row["part"] for row in rows)
    train_groups = {row["group"] for row in rows if row["part"] == "train"}
    leaked = sum(row["group"] in train_groups for row in rows if row["part"] == "test")
    return {
        "parts": {part: sizes.get(part, 0) for part in ("train", "validation", "test")},
        "test_rows": sizes["test"],
        "leaked_rows": leaked,
        "leaked_share": leaked / sizes["test"] if sizes["test"] else 0.0,
    }


def counts_of_test(run_dir: Path) -> metrics.Counts:
    records = read_predictions(run_dir, "test")
    return metrics.document_counts(records, run_types(read_run_config(run_dir), records))


def micro_f1_resamples(counts: metrics.Counts, config: AnalysisConfig, seed: int) -> np.ndarray:
    indices = metrics.resample_indices(len(counts.doc_ids), config.resamples, seed)
    return metrics.micro_f1_of(*metrics.resampled_sums(counts, indices))


def measure_leak(
    rows_run: Path, document_run: Path, rows_output_dir: str | Path, output_dir: str | Path, config: AnalysisConfig
) -> Path:
    """Write `leak/leak.json` from the row-split run and the document-split run of the same model."""
    rows_counts, document_counts = counts_of_test(rows_run), counts_of_test(document_run)
    rows_f1 = metrics.scores_from_counts(rows_counts)["micro"]["f1"]
    document_f1 = metrics.scores_from_counts(document_counts)["micro"]["f1"]
    rows_samples = micro_f1_resamples(rows_counts, config, config.seed)
    document_samples = micro_f1_resamples(document_counts, config, config.seed + 1)  # independent draws
    record = {
        "model": read_run_config(document_run).get("model"),
        "rows": {
            "run": rows_run.name,
            **row_split(rows_output_dir),
            "micro_f1": rows_f1,
            "micro_f1_ci": metrics.interval(rows_samples),
        },
        "document": {
            "run": document_run.name,
            "test_documents": len(document_counts.doc_ids),
            "micro_f1": document_f1,
            "micro_f1_ci": metrics.interval(document_samples),
        },
        "inflation": {
            "points": 100 * (rows_f1 - document_f1),
            "ci": [100 * bound for bound in metrics.interval(rows_samples - document_samples)],
        },
        "resamples": config.resamples,
        "note": NOTE,
    }
    return write_record(Outputs(output_dir).leak, "leak", record)
