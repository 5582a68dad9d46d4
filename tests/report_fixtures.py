"""An outputs/ tree for the report tests, made by the real stages from fixture runs.

Three runs of `tests.fixtures.make_fixture_run` (minilm, its truncate twin, the CRF), analysed and
compared by `pipeline.evaluation.analyze` / `pipeline.evaluation.compare`; a data summary with the keys the data stage
writes; a bench.json for the two transformer runs with fp32, int8 and the transformers pipeline, summarised
by `pipeline.serving.bench.summarise` (the CRF is not benchmarked); a leak experiment of the CRF
(`fixtures.make_leak_outputs`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fixtures import TYPES, make_fixture_run, make_leak_outputs
from matplotlib.figure import Figure

from pipeline.config import BenchConfig, CompareConfig
from pipeline.core.layout import write_record
from pipeline.evaluation.analyze import analyze_run
from pipeline.evaluation.compare import compare_runs
from pipeline.serving.bench import summarise

RUNS = (
    ("minilm-20261128-100000", "minilm", "window", 0, 4.0),
    ("minilm-truncate-20261128-110000", "minilm", "truncate", 1, 5.0),
    ("crf-20261128-120000", "crf", "window", 2, None),
)


def data_summary() -> dict:
    return {
        "source": "brat:/fixture",
        "documents": 40,
        "split": {
            "strategy": "document",
            "seed": 42,
            "train": 22,
            "validation": 8,
            "test": 10,
            "groups_in_two_parts": 0,
        },
        "entities_total": 500,
        "entities_kept": 495,
        "entities_dropped": 5,
        "entities_dropped_share": 0.01,
        "conversion": {"T": 500, "dropped_nested": 5},
        "tiers": {"frequent_above": 1000, "rare_below": 100},
        "types": {
            name: {
                "mentions": n + 20,
                "train_mentions": n,
                "validation_mentions": 10,
                "test_mentions": 10,
                "tier": tier,
                "kept": True,
            }
            for name, (tier, n) in TYPES.items()
        },
        "tokenizer": "minilm",
        "words_per_document": {"min": 100, "median": 500, "mean": 510.5, "max": 1200},
        "wordpieces_per_document": {"min": 130, "median": 640, "mean": 650.0, "max": 1500},
        "documents_over_512_wordpieces": 30,
        "truncation_lost_entities": 120,
        "truncation_lost_entity_share": 0.24,
        "errors": [],
    }


def bench_json(fp32_docs_per_second: float) -> dict:
    """fp32 at the run's speed, int8 at 9 documents/s and 0.2 F1 points less, the pipeline at 4 documents/s,
    three interleaved rounds each (bench.json's shape; numbers chosen by hand)."""

    def timed(
        label: str, speed: float, f1: float, ratio: dict | None, share: float | None, memory: float = 700.0
    ) -> dict:
        return {
            "label": label,
            "variant": label,
            "max_length": 256,
            "overlap": 64,
            "device": "cpu",
            "batch_size": 1,
            "docs_per_second": speed,
            "docs_per_second_min": 0.9 * speed,
            "docs_per_second_max": 1.1 * speed,
            "words_per_second": 500 * speed,
            "latency_ms_median": 1000 / speed,
            "latency_ms_p95": 1500 / speed,
            "peak_memory_mb": memory,
            "positions_per_wordpiece": 1.4,
            "gflops_per_second": 40.0 * speed,
            "peak_share": share,
            "test_micro_f1": f1,
            "validation_micro_f1": f1 - 0.01,
            "ratio_to_reference": ratio,
        }

    rows = [
        timed(variant, speed, f1, {"median": speed / 4.0, "min": speed / 4.4, "max": speed / 3.6}, 0.5, memory)
        for variant, speed, f1, memory in (("fp32", fp32_docs_per_second, 0.6, 700.0), ("int8", 9.0, 0.598, 400.0))
    ]
    reference_row = timed("transformers pipeline", 4.0, 0.55, None, 0.4)
    reference = {
        "name": "transformers pipeline",
        "batch_size": 1,
        "docs_per_second": 4.0,
        "rows": [reference_row],
        "test_micro_f1": 0.55,
        "validation_micro_f1": 0.54,
        "truncated_documents": 3,
        "test_documents": 10,
        "peak_memory_mb": 900.0,
    }
    ratios = {
        label: {
            "best": {
                "median": speed / 4.0,
                "min": speed / 4.4,
                "max": speed / 3.6,
                "batch_size": 1,
                "reference_batch_size": 1,
            }
        }
        for label, speed in (("fp32", fp32_docs_per_second), ("int8", 9.0))
    }
    return {
        "variants": rows,
        "estimate": [
            {
                "variant": "fp32",
                "device": "cpu",
                "batch_size": 1,
                "notes": 10000,
                "hours": 2.5,
                "price_per_hour": 0.1,
                "cost": 0.25,
            },
            {
                "variant": "int8",
                "device": "cpu",
                "batch_size": 1,
                "notes": 10000,
                "hours": 1.25,
                "price_per_hour": 0.1,
                "cost": 0.125,
            },
        ],
        "reference": reference,
        "lengths": {"documents": 20},
        "windows": [
            {
                "max_length": 256,
                "overlap": 64,
                "run_windows": True,
                "validation_micro_f1": 0.5884,
                "positions_per_wordpiece": 1.259,
                "mflop_per_wordpiece": 27.3,
                "chosen": False,
            },
            {
                "max_length": 192,
                "overlap": 16,
                "run_windows": False,
                "validation_micro_f1": 0.5877,
                "positions_per_wordpiece": 1.092,
                "mflop_per_wordpiece": 22.9,
                "chosen": True,
            },
        ],
        "peak": {"fp32": 150.0, "bf16": 150.0, "int8": 600.0},
        "threads": 2,
        "config": dataclasses.asdict(BenchConfig()),
        "summary": summarise(rows, reference, ratios, BenchConfig()),
    }


def bench_png(path: Path, docs_per_second: float) -> Path:
    """A stand-in for the bench stage's bench.png: the report embeds the file as it is."""
    figure = Figure(figsize=(3, 2))
    figure.subplots().bar(["fp32", "int8"], [docs_per_second, 9.0])
    figure.savefig(path, format="png")
    return path


def make_report_outputs(root: Path) -> tuple[Path, list[str]]:
    """Write the tree under `root`; returns (output_dir, run names)."""
    write_record(root / "data" / "summary.json", "summary", data_summary())
    config = CompareConfig(
        resamples=200, policy_min_support=5
    )  # the fixture's 8 validation documents: some types own a threshold
    run_dirs = []
    for name, model, long_docs, seed, docs_per_second in RUNS:
        run_dir = make_fixture_run(root / "runs", name, seed=seed, model=model, long_docs=long_docs)
        if docs_per_second:
            write_record(run_dir / "bench.json", "bench", bench_json(docs_per_second))
            bench_png(run_dir / "bench.png", docs_per_second)
        analyze_run(run_dir, config)
        run_dirs.append(run_dir)
    compare_runs(run_dirs, root, config)
    make_leak_outputs(root, run_dirs[-1])  # the CRF on both splits
    return root, [name for name, *_ in RUNS]
