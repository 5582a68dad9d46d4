"""A small but realistic run directory for tests of the analysis, comparison and report stages.

`make_fixture_run(path, name, seed)` writes config.json, metrics.json and predictions for validation
(8 documents) and test (10 documents): seven types across the three tiers, and errors of every
taxonomy category (boundary under/over/shifted, type confusion, boundary and type, missed, spurious),
correct spans confident and wrong ones less so. The same seed gives the same files; different seeds
give different predictions on the same documents (so two fixture runs can be compared pairwise).
"""

from __future__ import annotations

import random
from pathlib import Path

from pipeline.core.files import write_json
from pipeline.core.layout import prediction_record, read_record, write_predictions, write_record
from pipeline.core.scoring import strict_scores
from pipeline.core.tags import Span, build_tag_maps, tags_from_spans

TYPES = {
    "Sign_symptom": ("frequent", 1500),
    "Disease_disorder": ("frequent", 1100),
    "Medication": ("medium", 300),
    "Therapeutic_procedure": ("medium", 250),
    "Age": ("medium", 150),
    "Lab_value": ("medium", 120),
    "Height": ("rare", 12),
}
MENTIONS = {
    "Sign_symptom": [["fever"], ["chest", "pain"], ["shortness", "of", "breath"]],
    "Disease_disorder": [["myocardial", "infarction"], ["diabetes"], ["COPD"]],
    "Medication": [["aspirin"], ["metformin"]],
    "Therapeutic_procedure": [["PCI"], ["surgery"]],
    "Age": [["45-year-old"]],
    "Lab_value": [["5", "mg/dL"]],
    "Height": [["170", "cm"]],
}
FILLER = ["the", "patient", "was", "seen", "with", "and", "then", "had", "a", "history", "of", "noted"]
OUTCOMES = ("exact",) * 6 + (
    "boundary_under",
    "boundary_over",
    "boundary_shifted",
    "type_confusion",
    "boundary_and_type",
    "missed",
)


def fixture_document(rng: random.Random, entities: int = 6) -> tuple[list[str], list[Span]]:
    """Words and gold spans: entities separated by 2-3 filler words (room for boundary errors)."""
    words, spans = [], []
    for _ in range(entities):
        words += rng.sample(FILLER, rng.randint(2, 3))
        kind = rng.choice(list(TYPES))
        mention = rng.choice(MENTIONS[kind])
        spans.append(Span(len(words), len(words) + len(mention), kind))
        words += mention
    words += rng.sample(FILLER, 3)
    return words, spans


def predicted_span(rng: random.Random, gold: Span, outcome: str) -> Span | None:
    other = rng.choice([t for t in TYPES if t != gold.type])
    if outcome == "exact":
        return gold
    if outcome == "missed":
        return None
    if outcome == "type_confusion":
        return Span(gold.start, gold.end, other)
    if outcome == "boundary_under":
        return Span(gold.start, gold.end - 1, gold.type) if len(gold) > 1 else Span(gold.start, gold.end + 1, gold.type)
    if outcome == "boundary_over":
        return Span(gold.start - 1, gold.end, gold.type)
    if outcome == "boundary_shifted":
        return Span(gold.start + 1, gold.end + 1, gold.type) if len(gold) > 1 else Span(gold.start - 1, gold.end, other)
    return Span(gold.start, gold.end + 1, other)  # boundary_and_type


def fixture_record(rng: random.Random, doc_id: str, words: list[str], gold: list[Span]) -> dict:
    """Predictions with every outcome drawn at random, one spurious span per document on filler."""
    pred, confidence = [], [round(rng.uniform(0.9, 0.999), 4) for _ in words]
    for span in gold:
        guess = predicted_span(rng, span, rng.choice(OUTCOMES))
        if guess is None:
            for i in range(span.start, span.end):
                confidence[i] = round(rng.uniform(0.4, 0.8), 4)
            continue
        pred.append(guess)
        low, high = (0.85, 0.999) if guess == span else (0.35, 0.92)
        for i in range(guess.start, guess.end):
            confidence[i] = round(rng.uniform(low, high), 4)
    taken = {i for s in gold + pred for i in range(s.start - 1, s.end + 1)}
    free = [i for i in range(len(words)) if i not in taken]
    if free:
        spot = rng.choice(free)
        pred.append(Span(spot, spot + 1, rng.choice(list(TYPES))))
        confidence[spot] = round(rng.uniform(0.3, 0.9), 4)
    return prediction_record(
        doc_id, words, tags_from_spans(len(words), gold), tags_from_spans(len(words), sorted(pred)), confidence
    )


def fixture_part(seed: int, part: str, documents: int) -> list[dict]:
    """The documents of a part depend on the part only; the predictions on the seed."""
    doc_rng, pred_rng = random.Random(f"docs-{part}"), random.Random(f"{part}-{seed}")
    records = []
    for number in range(documents):
        words, gold = fixture_document(doc_rng)
        records.append(fixture_record(pred_rng, f"{part[:1]}{1000 + number}", words, gold))
    return records


# a transformer run's history: best validation F1 at epoch 2, stopped by patience 2 after epoch 4 of 6
FIXTURE_EPOCHS = [
    {"epoch": 1, "train_loss": 2.0, "val_loss": 1.2, "val_f1": 0.40},
    {"epoch": 2, "train_loss": 1.0, "val_loss": 0.9, "val_f1": 0.55},
    {"epoch": 3, "train_loss": 0.6, "val_loss": 1.0, "val_f1": 0.54},
    {"epoch": 4, "train_loss": 0.4, "val_loss": 1.1, "val_f1": 0.55},
]


def make_fixture_run(
    path: Path,
    name: str = "minilm-20260101-000000",
    seed: int = 0,
    model: str = "minilm",
    long_docs: str = "window",
    train: dict | None = None,
) -> Path:
    """Write a run directory `path/name` (config.json, metrics.json, predictions/) and return it;
    `train` adds training settings to its config (e.g. the seed it was trained with)."""
    run_dir = Path(path) / name
    tag2id, _ = build_tag_maps(TYPES)
    parts = {"validation": fixture_part(seed, "validation", 8), "test": fixture_part(seed, "test", 10)}
    for part, records in parts.items():
        write_predictions(run_dir, part, records)
    write_record(
        run_dir / "config.json",
        "run_config",
        {
            "run": name,
            "model": model,
            "split_strategy": "document",
            "tag2id": tag2id,
            "parameters": 22_000_000,
            "train": {
                "max_length": 256,
                "overlap": 64,
                "long_docs": long_docs,
                "epochs": 6,
                "patience": 2,
                **(train or {}),
            },
            "types": {t: {"train_mentions": n, "tier": tier} for t, (tier, n) in TYPES.items()},
        },
    )
    metrics = {
        part: strict_scores([r["gold"] for r in records], [r["pred"] for r in records])
        for part, records in parts.items()
    }
    write_record(
        run_dir / "metrics.json",
        "metrics",
        {
            "run": name,
            "model": model,
            **metrics,
            "epochs": [] if model == "crf" else FIXTURE_EPOCHS,
            "train_seconds": 120.0 + seed,
            "peak_memory_mb": 900.0,
            "parameters": 22_000_000,
        },
    )
    return run_dir


def make_fixture_combined_run(
    path: Path,
    name: str,
    transformer: Path,
    crf: Path,
    seed: int,
    weights: tuple[float, ...] = (0.0, 0.5, 1.0),
    decoder: str = "viterbi",
) -> Path:
    """A combined run of `transformer` and `crf` as `combine` records it: config.json's `train` is the
    CombineConfig (its parts as typed on the command line: prefixes), model/combined.json names the
    parts resolved; its predictions drawn with `seed`."""
    run_dir = make_fixture_run(path, name, seed, model="combined")
    config = read_record(run_dir / "config.json", "run_config")
    config["train"] = {
        "output_dir": str(Path(path).parent),
        "wandb": False,
        "wandb_log_text": False,
        "run": "minilm",
        "crf_run": "crf",
        "weights": list(weights),
        "decoder": decoder,
    }
    write_record(run_dir / "config.json", "run_config", config)
    parts = {"transformer": transformer.name, "crf": crf.name}
    metrics = read_record(run_dir / "metrics.json", "metrics")
    write_record(
        run_dir / "metrics.json", "metrics", {**metrics, "selected_weight": 0.5, "decoder": decoder, "parts": parts}
    )
    write_json(
        run_dir / "model" / "combined.json",
        {
            **{f"{part}_run": run.name for part, run in (("transformer", transformer), ("crf", crf))},
            **{f"{part}_dir": str(run.resolve()) for part, run in (("transformer", transformer), ("crf", crf))},
            "weight": 0.5,
            "decoder": decoder,
        },
    )
    return run_dir


def make_leak_outputs(output_dir: Path, document_run: Path, leaked: int = 8) -> Path:
    """A leak experiment under `output_dir/leak/`: a row-split fixture run (seed 7) on 10 test rows of which
    `leaked` have a copy in training (documents.jsonl), measured against `document_run`."""
    from pipeline.config import AnalysisConfig
    from pipeline.core.files import write_jsonl
    from pipeline.core.layout import Outputs
    from pipeline.evaluation.leak import measure_leak

    leak_dir = Outputs(output_dir).leak_dir
    rows_run = make_fixture_run(leak_dir / "runs", "crf-20261128-130000", seed=7, model="crf")
    test_ids = [r["id"] for r in fixture_part(7, "test", 10)]
    rows = [{"id": doc_id, "part": "test", "group": f"g{i}"} for i, doc_id in enumerate(test_ids)]
    rows += [{"id": f"copy{i}", "part": "train", "group": f"g{i}"} for i in range(leaked)]
    write_jsonl(Outputs(leak_dir).documents, rows)
    return measure_leak(rows_run, document_run, leak_dir, output_dir, AnalysisConfig(resamples=200))
