"""`python -m benchmarks.seed_ensemble`: what averaging the seeds' distributions buys, with and without the CRF.

The transformer runs of `train --seeds` differ only by their seed. Each word's softmax is averaged over
the runs (the ensemble costs one training and one inference pass per seed) and decoded like a single
run's; with a CRF run, each subject is also mixed with the CRF's marginals at the transformer weight
chosen on validation, as `combine` chooses it (no prior correction). Every row gives validation
micro- and macro-F1 (what a choice may use) and test micro-F1 with its 95% interval over documents,
and the training seconds it cost. One JSON line per row, printed as soon as it is scored.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import CombineConfig
from pipeline.core.layout import EVAL_PARTS, prediction_record, read_metrics
from pipeline.data.prepare import PreparedData
from pipeline.evaluation.metrics import bootstrap_intervals, document_counts, scores_from_counts
from pipeline.modeling.decode import decode_documents
from pipeline.modeling.mixture import combine_documents
from pipeline.modeling.tagger import load_tagger
from pipeline.training.combine import best, check_part, search_point
from pipeline.training.recorder import prepared_with_test

Distributions = dict[str, list[np.ndarray]]  # part -> one (words, tags) array per document


def average(members: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Per document, the mean of the members' distributions (each row again sums to 1)."""
    return [np.mean(np.stack(rows), axis=0) for rows in zip(*members, strict=True)]


def scored(prepared: PreparedData, part: str, results: Sequence[tuple[list[str], list[float]]]) -> dict[str, Any]:
    """Strict micro/macro-F1 of one part's decoded documents, with the micro interval over documents."""
    documents = prepared.parts[part]
    records = [prediction_record(d.id, d.words, d.tags, t, c) for d, (t, c) in zip(documents, results, strict=True)]
    counts = document_counts(records)
    scores = scores_from_counts(counts)
    return {
        "micro_f1": round(scores["micro"]["f1"], 4),
        "macro_f1": round(scores["macro"]["f1"], 4),
        "micro_f1_interval": [round(x, 4) for x in bootstrap_intervals(counts)["micro_f1"]],
    }


def chosen_weight(prepared: PreparedData, soft: Distributions, marginals: Distributions, weights: list[float]) -> float:
    """The transformer weight best on validation micro-F1 (tau 0), scored as `combine` scores its candidates."""
    gold = [d.tags for d in prepared.parts["validation"]]
    points = [
        search_point(
            weight,
            0.0,
            gold,
            decoded(combine_documents(soft["validation"], marginals["validation"], weight), prepared),
            "micro",
        )
        for weight in weights
    ]
    point = best(points)
    assert point is not None, "no weight candidates"
    return point["weight"]


def combined(soft: Distributions, marginals: Distributions, weight: float) -> Distributions:
    return {part: combine_documents(soft[part], marginals[part], weight) for part in soft}


def decoded(distributions: list[np.ndarray], prepared: PreparedData) -> list[tuple[list[str], list[float]]]:
    return decode_documents(distributions, prepared.id2tag, "viterbi")


def rows(
    prepared: PreparedData,
    subjects: dict[str, tuple[Distributions, float]],
    crf: tuple[Distributions, float] | None,
    weights: list[float],
) -> list[dict[str, Any]]:
    """Each subject (name -> its distributions and training seconds) alone, then mixed with the CRF (its
    marginals and training seconds)."""
    found = []
    for name, (soft, seconds) in subjects.items():
        arms: list[tuple[str, float | None, float, Distributions]] = [(name, None, seconds, soft)]
        if crf is not None:
            weight = chosen_weight(prepared, soft, crf[0], weights)
            arms.append((f"{name} + crf", weight, seconds + crf[1], combined(soft, crf[0], weight)))
        for label, chosen, cost, distributions in arms:
            row: dict[str, Any] = {"subject": label, "weight": chosen, "train_seconds": round(cost)}
            for part in EVAL_PARTS:
                row[part] = scored(prepared, part, decoded(distributions[part], prepared))
            print(json.dumps(row), flush=True)
            found.append(row)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seed_ensemble", description=__doc__)
    parser.add_argument("--output-dir", default="outputs", help="root holding the prepared data/ and the runs")
    parser.add_argument("--runs", required=True, help="transformer run directories, comma-separated (>= 2)")
    parser.add_argument("--crf", default="", help="a CRF run directory to mix each subject with (optional)")
    args = parser.parse_args(argv)
    runs = [Path(run) for run in args.runs.split(",") if run]
    if len(runs) < 2:
        parser.error("--runs needs at least two transformer runs")
    prepared = prepared_with_test(args.output_dir)
    words = {part: [d.words for d in prepared.parts[part]] for part in EVAL_PARTS}
    subjects: dict[str, tuple[Distributions, float]] = {}
    for run in runs:
        check_part(run, prepared)
        tagger = load_tagger(run, "fp32")
        soft = {part: tagger.predict_proba(words[part]) for part in EVAL_PARTS}
        subjects[run.name] = (soft, float(read_metrics(run).get("train_seconds") or 0.0))
    members = list(subjects.values())
    ensemble = {part: average([soft[part] for soft, _ in members]) for part in EVAL_PARTS}
    subjects[f"ensemble of {len(runs)}"] = (ensemble, sum(seconds for _, seconds in members))
    crf = None
    if args.crf:
        check_part(Path(args.crf), prepared)
        tagger = load_tagger(Path(args.crf), "fp32")
        marginals = {part: tagger.predict_proba(words[part]) for part in EVAL_PARTS}
        crf = (marginals, float(read_metrics(Path(args.crf)).get("train_seconds") or 0.0))
    rows(prepared, subjects, crf, CombineConfig().weights)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
