"""A small outputs/ tree for the report tests: data summary, three runs, their analysis and benchmark.

Numbers are made up but consistent (F1 = 2PR/(P+R) is not checked by the report, only shown).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.io import write_json

TYPES = {"Sign_symptom": ("frequent", 1500), "Age": ("medium", 150), "Height": ("rare", 12)}
RUNS = (("minilm-20261128-100000", "minilm", "window", 0.61, 4.0),
        ("minilm-truncate-20261128-110000", "minilm", "truncate", 0.55, 5.0),
        ("crf-20261128-120000", "crf", None, 0.45, None))


def data_summary() -> dict:
    return {
        "source": "brat:/fixture", "documents": 40, "split": {"strategy": "document", "seed": 42, "train": 30,
                                                             "validation": 5, "test": 5, "groups_in_two_parts": 0},
        "entities_total": 500, "entities_kept": 495, "entities_dropped": 5, "entities_dropped_share": 0.01,
        "conversion": {"T": 500, "dropped_nested": 5}, "tiers": {"frequent_above": 1000, "rare_below": 100},
        "types": {name: {"mentions": n + 20, "train_mentions": n, "validation_mentions": 10, "test_mentions": 10,
                         "tier": tier, "kept": True} for name, (tier, n) in TYPES.items()},
        "tokenizer": "minilm", "words_per_document": {"min": 100, "median": 500, "mean": 510.5, "max": 1200},
        "wordpieces_per_document": {"min": 130, "median": 640, "mean": 650.0, "max": 1500},
        "documents_over_512_wordpieces": 30, "truncation_lost_entities": 120, "truncation_lost_entity_share": 0.24,
        "errors": [],
    }


def scores(f1: float) -> dict:
    return {"precision": f1 + 0.02, "recall": f1 - 0.02, "f1": f1}


def per_type(f1: float) -> dict:
    return {name: {**scores(f1 + shift), "support": 10}
            for name, shift in zip(TYPES, (0.1, 0.0, -0.3))}


def analysis(name: str, model: str, f1: float) -> dict:
    return {
        "run": name, "model": model, "part": "test",
        "scores": {"micro": scores(f1), "macro": scores(f1 - 0.1), "per_type": per_type(f1),
                   "intervals": {"micro_f1": [f1 - 0.03, f1 + 0.03], "macro_f1": [f1 - 0.15, f1 - 0.05]}},
        "tiers": {tier: {"types": [t], "f1": f1 + shift, "precision": f1, "recall": f1, "support": 10,
                         "ci": [f1 + shift - 0.05, f1 + shift + 0.05]}
                  for t, (tier, _), shift in zip(TYPES, TYPES.values(), (0.1, 0.0, -0.3))},
        "errors": {"counts": {"boundary": 6, "type_confusion": 3, "missed": 8, "false_positive": 4},
                   "shares": {"boundary": 6 / 21, "type_confusion": 3 / 21, "missed": 8 / 21, "false_positive": 4 / 21},
                   "top_confusions": [{"gold": "Age", "predicted": "Sign_symptom", "count": 3, "share": 0.08}]},
        "examples": [{"category": "boundary", "doc_id": "1001", "words": ["A", "35-year-old", "woman", "had", "fever"],
                      "gold_spans": [{"start": 1, "end": 2, "type": "Age"}, {"start": 4, "end": 5, "type": "Sign_symptom"}],
                      "pred_spans": [{"start": 1, "end": 3, "type": "Age"}, {"start": 4, "end": 5, "type": "Sign_symptom"}]}],
        "confidence": {"mean": {"tp": 0.93, "fp": 0.71, "fn": 0.55},
                       "thresholds": [{"threshold": t, "precision": 0.8 + t / 10, "recall": 0.9 - t / 2,
                                       "coverage": 1.0 - t / 2} for t in (0.5, 0.7, 0.85, 0.95)],
                       "ece_before": 0.08, "ece_after": 0.03, "temperature": 1.4},
        "readiness": {"thresholds": [{"threshold": t, "precision": 0.8 + t / 10, "coverage": 1.0 - t / 2,
                                      "automation_rate": 1.0 - t / 2, "review_rate": t / 2} for t in (0.5, 0.7, 0.85, 0.95)],
                      "recommended": {"threshold": 0.85, "rule": "highest coverage with precision >= 0.88"},
                      "fp_rate_by_type": [{"type": "Height", "fp_rate": 0.4}, {"type": "Age", "fp_rate": 0.1}]},
        "figures": {"confidence_histogram": "figures/confidence_histogram.png"},
    }


def write_figure(path: Path) -> None:
    """A stand-in for an analysis figure: a real PNG the model page must embed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3, 2))
    figure.subplots().hist([0.2, 0.9, 0.95, 0.99])
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def make_report_outputs(root: Path) -> tuple[Path, list[str]]:
    """Write the fixture tree under `root`; returns (output_dir, run names)."""
    write_json(root / "data" / "summary.json", data_summary())
    for name, model, long_docs, f1, docs_per_second in RUNS:
        folder = root / "runs" / name
        config = {"run": name, "model": model, "split_strategy": "document",
                  "types": {t: {"train_mentions": n, "tier": tier} for t, (tier, n) in TYPES.items()}}
        if long_docs:
            config["train"] = {"long_docs": long_docs, "max_length": 512 if long_docs == "truncate" else 256}
        write_json(folder / "config.json", config)
        write_json(folder / "metrics.json", {"run": name, "model": model, "train_seconds": 600.0,
                                             "test": {"micro": scores(f1), "macro": scores(f1 - 0.1),
                                                      "per_type": per_type(f1)}})
        write_json(folder / "analysis" / "analysis.json", analysis(name, model, f1))
        write_figure(folder / "analysis" / "figures" / "confidence_histogram.png")
        if docs_per_second:
            write_json(folder / "bench.json", {"summary": {"docs_per_second": docs_per_second},
                                               "variants": [{"variant": "fp32", "batch_size": 1,
                                                             "docs_per_second": docs_per_second, "f1": f1}]})
    names = [name for name, *_ in RUNS]
    write_json(root / "comparison" / "comparison.json", {"runs": names, "pairwise": [
        {"a": names[0], "b": names[1], "mean_difference": 0.06, "ci": [0.02, 0.10], "p_a_better": 0.99},
        {"a": names[0], "b": names[2], "mean_difference": 0.16, "ci": [0.12, 0.20], "p_a_better": 1.0}]})
    return root, names
