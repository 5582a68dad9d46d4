"""An outputs/ tree for the report tests, made by the real stages from fixture runs.

Three runs of `tests.fixtures.make_fixture_run` (minilm, its truncate twin, the CRF), analysed and
compared by `pipeline.evaluation.analyze` / `pipeline.evaluation.compare`; a data summary with the keys the data stage
writes; a bench.json for the two transformer runs with fp32, int8 and the transformers pipeline, summarised
by `pipeline.serving.bench_summary.summarise` (the CRF is not benchmarked), the truncate twin's measured on a GPU
machine (fp16 on the GPU beside the CPU rows); a leak experiment of the CRF (`fixtures.make_leak_outputs`).

For the Methods chapter and the appendix, the runs record what training records (`TRAINING`): their
recipe, provenance and search on validation (minilm stops early, the truncate twin is still improving at
its epoch limit after trying two learning rates, the CRF searches a c1 x c2 grid); a seeds.json of two
seeds of minilm and the stage records of `all` are written as those stages write them (numbers chosen
by hand).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fixtures import TYPES, make_fixture_run, make_leak_outputs
from matplotlib.figure import Figure

from pipeline.config import BenchConfig, CompareConfig
from pipeline.core.layout import read_record, write_record
from pipeline.evaluation.analyze import analyze_run
from pipeline.evaluation.compare import compare_runs
from pipeline.serving.bench_summary import summarise
from pipeline.serving.bench_variants import instruction_skips

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


VERSIONS = {"python": "3.12.3", "pipeline": "0.1.0", "torch": "2.11.0", "transformers": "5.17.0"}
RECIPE = {
    "lr": [2e-4],
    "head_lr": 1e-3,
    "batch_size": 8,
    "gradient_accumulation_steps": 1,
    "label_all_subwords": True,
    "precision": "fp32",
    "decoder": "viterbi",
    "seed": 42,
}
# what each fixture run's config.json and metrics.json add to make_fixture_run's
TRAINING = {
    "minilm": (
        {
            "train": RECIPE,
            "versions": VERSIONS,
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "command": "python -m pipeline all --data /fixture",
        },
        {"optimisation_steps": 260, "selected_lr": 2e-4},
    ),
    "minilm-truncate": (
        {
            "train": {**RECIPE, "lr": [1e-4, 2e-4], "seed": 43, "gradient_accumulation_steps": 2},
            "versions": {**VERSIONS, "torch": "2.10.0"},
            "git_commit": "0123456789abcdef0123456789abcdef01234567-dirty",
            "command": "python -m pipeline train --long-docs truncate --lr 1e-4,2e-4 --seed 43",
        },
        {
            "epochs": [
                {"epoch": n, "train_loss": 2.0 / n, "val_loss": 1.0 / n, "val_f1": 0.3 + 0.04 * n} for n in range(1, 7)
            ],
            "optimisation_steps": 390,
            "selected_lr": 2e-4,
            "lr_search": [
                {"lr": 1e-4, "best_val_f1": 0.49, "epochs_run": 6, "train_seconds": 100.0},
                {"lr": 2e-4, "best_val_f1": 0.54, "epochs_run": 6, "train_seconds": 121.0},
            ],
            "train_seconds_all_trials": 221.0,
        },
    ),
    "crf": (
        {
            "train": {"c1": [0.05, 0.1], "c2": [0.01]},
            "versions": VERSIONS,
            "command": "python -m pipeline train --model crf --c1 0.05,0.1 --c2 0.01",
        },
        {
            "grid": [
                {"c1": 0.05, "c2": 0.01, "iterations": 50, "validation_f1": 0.512, "fit_seconds": 30.0},
                {"c1": 0.1, "c2": 0.01, "iterations": 50, "validation_f1": 0.534, "fit_seconds": 31.0},
            ],
            "selected": {"c1": 0.1, "c2": 0.01},
            "grid_seconds": 61.0,
        },
    ),
}
XEON = {"cpu": "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", "vector": "AMX", "cores": 2, "gpu": None}
STAGES = (  # stage, seconds, why it ran, when it finished, where (None: a record from before machines were recorded)
    ("data", 4.0, "no record yet", "2026-11-28 10:00:04", XEON),
    ("train-minilm", 599.0, "no record yet", "2026-11-28 10:10:03", XEON),
    ("compare", 1.0, "upstream train-minilm reruns", "2026-11-28 10:25:00", None),
)


def record_training(run_dir: Path, kind: str) -> None:
    """Add to a fixture run what training records beyond make_fixture_run's (TRAINING[kind])."""
    config_extra, metrics_extra = TRAINING[kind]
    config = read_record(run_dir / "config.json", "run_config")
    config["train"] = {**config["train"], **config_extra["train"]}
    config.update({key: value for key, value in config_extra.items() if key != "train"})
    config["created"] = "2026-11-28T10:00:00"
    config.setdefault("split_hash", "5f1a" * 16)
    write_record(run_dir / "config.json", "run_config", config)
    metrics = read_record(run_dir / "metrics.json", "metrics")
    write_record(run_dir / "metrics.json", "metrics", {**metrics, **metrics_extra})


def seeds_json() -> dict:
    """Two seeds of minilm as `compare` summarises them (comparison/seeds.json)."""
    runs = [
        {
            "run": f"minilm-seed{seed}-20261128-1{seed}000",
            "seed": seed,
            "validation_f1": v,
            "test_f1": t,
            "test_f1_ci": [t - 0.03, t + 0.03],
            "test_macro_f1": m,
        }
        for seed, v, t, m in ((42, 0.588, 0.618, 0.340), (43, 0.596, 0.627, 0.419))
    ]

    def spread(key: str) -> dict:
        values = [run[key] for run in runs]
        return {
            "mean": sum(values) / 2,
            "std": abs(values[0] - values[1]) / 2**0.5,
            "min": min(values),
            "max": max(values),
        }

    return {
        "part": "test",
        "selection_part": "validation",
        "groups": [
            {
                "model": "minilm",
                "recipe": RECIPE,
                "seeds": [42, 43],
                "runs": runs,
                **{key: spread(key) for key in ("validation_f1", "test_f1", "test_macro_f1")},
            }
        ],
    }


def gpu_rows() -> list[dict]:
    """fp16 on the GPU at 8 documents/s (below the CPU's int8, so the CPU choice stands), 25 ms per document."""
    return [
        {
            "label": "fp16",
            "variant": "fp16",
            "max_length": 256,
            "overlap": 64,
            "device": "cuda",
            "batch_size": 1,
            "docs_per_second": 8.0,
            "docs_per_second_min": 7.0,
            "docs_per_second_max": 8.5,
            "words_per_second": 4000.0,
            "latency_ms_median": 25.0,
            "latency_ms_p95": 40.0,
            "peak_memory_mb": 300.0,
            "positions_per_wordpiece": 1.4,
            "gflops_per_second": 320.0,
            "peak_share": 0.001,
            "test_micro_f1": 0.6,
            "validation_micro_f1": 0.59,
            "ratio_to_reference": None,
        }
    ]


STUDENT = "minilm-3layers-20261206-042552"
STUDENT_LABEL = f"{STUDENT}: int8"


def bench_json(fp32_docs_per_second: float, gpu: bool = False) -> dict:
    """fp32 at the run's speed, int8 at 9 documents/s and 0.2 F1 points less, the pipeline at 4 documents/s,
    three interleaved rounds each (bench.json's shape; numbers chosen by hand); bf16 skipped, as bench
    skips it on a CPU with AVX-512 BF16 but no AMX."""
    peak: dict[str, float | None] = {"fp32": 150.0, "bf16": 150.0, "int8": 600.0}

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
    ] + (gpu_rows() if gpu else [])
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
    # a 3-layer student timed in the same rounds (CPU runs only): faster, but 1.2 validation points below fp32
    student_row = {**timed("int8", 12.0, 0.585, {"median": 3.0, "min": 2.7, "max": 3.3}, 0.4), "label": STUDENT_LABEL}
    over_chosen = {"median": 1.33, "min": 1.2, "max": 1.45, "batch_size": 1, "reference_batch_size": 1}
    student = {
        "run": STUDENT,
        "label": STUDENT_LABEL,
        "variant": "int8",
        "max_length": 256,
        "overlap": 64,
        "batch_size": 1,
        "docs_per_second": 12.0,
        "validation_micro_f1": 0.575,
        "test_micro_f1": 0.585,
        "validation_points": -1.5,  # against fp32's 0.59
        "within_tolerance": False,
        "ratio_to_chosen": over_chosen,
        "ratio_to_reference": {**over_chosen, "median": 3.0, "min": 2.7, "max": 3.3},
        "target_met": True,
        "rows": [student_row],
    }
    summary = summarise(rows, reference, ratios, BenchConfig())
    return {
        "students": [] if gpu else [student],
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
        "peak": peak,
        "threads": 2,
        "machine": {**XEON, "gpu": "NVIDIA H100 80GB HBM3" if gpu else None},
        "device": "NVIDIA H100 80GB HBM3" if gpu else "cpu",
        "gpu_peak": {"fp32": 51000.0, "fp16": 750000.0} if gpu else None,
        "cpu": {"flags": ["avx512_vnni", "avx512_bf16"]},
        "skipped": instruction_skips(["fp32", "bf16", "int8"], ["avx512_vnni", "avx512_bf16"], peak),
        "versions": {**VERSIONS, "onnxruntime": "1.30.0", "openvino": "2026.0.0"},
        "config": dataclasses.asdict(BenchConfig()),
        "summary": {**summary, "lighter": None},
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
        record_training(run_dir, model + ("-truncate" if long_docs == "truncate" else ""))
        if docs_per_second:
            write_record(run_dir / "bench.json", "bench", bench_json(docs_per_second, gpu=long_docs == "truncate"))
            bench_png(run_dir / "bench.png", docs_per_second)
        analyze_run(run_dir, config)
        run_dirs.append(run_dir)
    compare_runs(run_dirs, root, config)
    write_record(root / "comparison" / "seeds.json", "seeds", seeds_json())
    make_leak_outputs(root, run_dirs[-1])  # the CRF on both splits
    for stage, seconds, reason, finished, machine in STAGES:
        write_record(
            root / "stages" / f"{stage}.json",
            "stage",
            {
                "stage": stage,
                "key": "k",
                "inputs": {},
                "modules": {},
                "reason": reason,
                "outputs": {},
                "seconds": seconds,
                "finished": finished,
                **({"machine": machine} if machine else {}),
            },
        )
    return root, [name for name, *_ in RUNS]
