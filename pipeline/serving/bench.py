"""`bench`: latency, throughput, memory and test F1 of every inference variant of a run, next to the
plain transformers pipeline, and what 10,000 notes would take and cost.

Timing: the first document of the sample is predicted once per variant before any clock starts
(warm-up); every measurement is repeated `repeats` times and the median kept. Documents are the
run's own test predictions (`predictions/test.jsonl`: words and gold tags), so no data folder is needed.

`<run>/bench.json` (read by comparison.py and the report: keep these keys):
    run, created, device ("cpu" or the GPU name), threads, versions {package: version}, config {BenchConfig}
    sample {documents, wordpieces, windows}          the timed sample (the first `sample_docs` test documents)
    lengths {documents, wordpieces_per_document {mean, median, p95, max}}   all test+validation documents
    training_peak_memory_mb                          from metrics.json (null when absent)
    variants: one row per (variant, batch_size), batch_size 1 = one document at a time:
        {variant, device, batch_size, docs_per_second, wordpieces_per_second, seconds_per_batch,
         latency_ms_median, latency_ms_p95 (batch 1 rows only, else null), peak_memory_mb (RSS on CPU,
         torch.cuda.max_memory_allocated on GPU), test_micro_f1 (scored at f1_batch_size windows per pass:
         dynamic int8 quantizes activations per batch, so its tags depend slightly on batching), f1_delta_vs_fp32 (points),
         ratio_to_reference (docs/s over the reference's docs/s)}
    reference: {name, batch_size 1, docs_per_second, wordpieces_per_second (those it reads: at most 510 per
                document, it cuts the rest), latency_ms_median,
                latency_ms_p95, peak_memory_mb, test_micro_f1, truncated_documents, mapping}  | null
    estimate: [{variant, device, batch_size, notes, hours, price_per_hour, cost}]   best batch size per variant
    summary: {variant "fp32", docs_per_second (fp32 at its best batch size), fastest_variant,
              fastest_docs_per_second, reference_docs_per_second, best_ratio_to_reference,
              ratio_variant, target_ratio, target_met, test_micro_f1 {variant: f1}}
and the figure `<run>/bench.png` (documents/s per variant and batch size, F1 in the labels).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import BenchConfig
from pipeline.core.documents import DataError
from pipeline.core.errors import ConfigError
from pipeline.core.layout import RunFolder, has_predictions, read_optional_record, read_predictions, write_record
from pipeline.core.provenance import package_versions
from pipeline.core.scoring import strict_scores
from pipeline.core.tags import OUTSIDE
from pipeline.modeling.backends import CPU_VARIANTS, GPU_VARIANTS, InferenceModel, load_inference

log = logging.getLogger(__name__)
REFERENCE_NAME = 'transformers pipeline("token-classification", aggregation_strategy="simple")'


class PeakMemory:
    """Peak resident memory (MB) of this process while the block runs, sampled every 10 ms."""

    def __init__(self) -> None:
        import psutil

        self.process, self.peak, self.running = psutil.Process(), 0.0, False
        self.thread: threading.Thread | None = None

    def sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss / 2**20)
            time.sleep(0.01)

    def __enter__(self) -> PeakMemory:
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.running = False
        if self.thread:
            self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss / 2**20)


def median_seconds(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def micro_f1(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    return round(strict_scores(gold, pred)["micro"]["f1"], 4)


def doc_wordpieces(tokenizer: Any, documents: Sequence[Sequence[str]]) -> list[int]:
    from pipeline.modeling.features import word_pieces

    return [sum(len(p) for p in word_pieces(tokenizer, words)) for words in documents]


def length_stats(counts: Sequence[int]) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(counts)), 1),
        "median": float(np.median(counts)),
        "p95": round(percentile(counts, 95), 1),
        "max": int(max(counts)),
    }


def gpu_peak_reset(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()


def gpu_peak_mb(device: str, rss_peak: float) -> float:
    if device.startswith("cuda"):
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(rss_peak, 1)


def variant_rows(
    model: InferenceModel, sample: list[list[str]], sample_wordpieces: int, sample_windows: int, config: BenchConfig
) -> list[dict[str, Any]]:
    """Batch-1 latency row and one throughput row per batch size for one loaded variant."""
    model.predict(sample[:1], 1)  # warm-up
    rows = []
    gpu_peak_reset(model.device)
    with PeakMemory() as memory:
        per_doc = [median_seconds(functools.partial(model.predict, [doc], 1), config.repeats) for doc in sample]
    total = sum(per_doc)
    rows.append(
        {
            "batch_size": 1,
            "docs_per_second": len(sample) / total,
            "wordpieces_per_second": sample_wordpieces / total,
            "seconds_per_batch": None,
            "latency_ms_median": 1000 * statistics.median(per_doc),
            "latency_ms_p95": 1000 * percentile(per_doc, 95),
            "peak_memory_mb": gpu_peak_mb(model.device, memory.peak),
        }
    )
    for batch_size in config.batch_sizes:
        gpu_peak_reset(model.device)
        with PeakMemory() as memory:
            seconds = median_seconds(functools.partial(model.predict, sample, batch_size), config.repeats)
        rows.append(
            {
                "batch_size": batch_size,
                "docs_per_second": len(sample) / seconds,
                "wordpieces_per_second": sample_wordpieces / seconds,
                "seconds_per_batch": seconds / -(-sample_windows // batch_size),
                "latency_ms_median": None,
                "latency_ms_p95": None,
                "peak_memory_mb": gpu_peak_mb(model.device, memory.peak),
            }
        )
    return rows


def reference_tags(entities: list[dict[str, Any]], offsets: list[tuple[int, int]]) -> list[str]:
    """Word tags from the pipeline's character-offset entities.

    A word takes the type of the first entity overlapping its characters; consecutive words of one
    entity form one span (B- then I-); a word no entity overlaps is O.
    """
    tags = [OUTSIDE] * len(offsets)
    owner: list[int | None] = [None] * len(offsets)
    starts = [start for start, _ in offsets]
    for number, entity in enumerate(entities):
        first = max(0, int(np.searchsorted(starts, entity["start"], side="right")) - 1)
        for word in range(first, len(offsets)):
            start, end = offsets[word]
            if start >= entity["end"]:
                break
            if end > entity["start"] and owner[word] is None:
                owner[word] = number
                continued = word > 0 and owner[word - 1] == number
                tags[word] = ("I-" if continued else "B-") + entity["entity_group"]
    return tags


def joined_text(words: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by single spaces, and each word's character range in that text."""
    offsets, position = [], 0
    for word in words:
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(words), offsets


def reference_row(
    run_dir: Path, device: str, sample: list[list[str]], test: list[dict[str, Any]], config: BenchConfig
) -> dict[str, Any]:
    """The plain transformers pipeline as a user would call it: one text at a time, 512-token cut."""
    from transformers import pipeline

    model_dir = str(RunFolder(run_dir).model)
    recognizer = pipeline(
        "token-classification",
        model=model_dir,
        tokenizer=model_dir,
        aggregation_strategy="simple",
        device=0 if device.startswith("cuda") else -1,
    )
    tokenizer = recognizer.tokenizer
    if tokenizer is None:
        raise ValueError(f"{model_dir}: the transformers pipeline loaded no tokenizer")
    texts = [joined_text(words)[0] for words in sample]
    limit = tokenizer.model_max_length
    seen = sum(min(count, limit - 2) for count in doc_wordpieces(tokenizer, sample))  # it cuts at 512
    recognizer(texts[0])  # warm-up
    gpu_peak_reset(device)
    with PeakMemory() as memory:
        per_doc = [median_seconds(functools.partial(recognizer, text), config.repeats) for text in texts]
    total = sum(per_doc)
    gold, pred, truncated = [], [], 0
    for row in test:
        text, offsets = joined_text(row["words"])
        truncated += len(tokenizer(text)["input_ids"]) > limit
        pred.append(reference_tags(recognizer(text), offsets))
        gold.append(row["gold"])
    return {
        "name": REFERENCE_NAME,
        "batch_size": 1,
        "docs_per_second": len(sample) / total,
        "wordpieces_per_second": seen / total,
        "latency_ms_median": 1000 * statistics.median(per_doc),
        "latency_ms_p95": 1000 * percentile(per_doc, 95),
        "peak_memory_mb": gpu_peak_mb(device, memory.peak),
        "test_micro_f1": micro_f1(gold, pred),
        "truncated_documents": truncated,
        "mapping": "text = words joined by one space; a word takes the type of the first entity overlapping "
        "its characters; consecutive words of one entity are B- then I-; others O",
    }


def estimates(rows: list[dict[str, Any]], mean_wordpieces: float, config: BenchConfig) -> list[dict[str, Any]]:
    """Hours and cost of `config.notes` notes of the measured mean length, at each variant's best batch size."""
    result = []
    for variant in dict.fromkeys(row["variant"] for row in rows):
        best = max((r for r in rows if r["variant"] == variant), key=lambda r: r["wordpieces_per_second"])
        hours = config.notes * mean_wordpieces / best["wordpieces_per_second"] / 3600
        price = config.gpu_price_per_hour if best["device"].startswith("cuda") else config.cpu_price_per_hour
        result.append(
            {
                "variant": variant,
                "device": best["device"],
                "batch_size": best["batch_size"],
                "notes": config.notes,
                "hours": round(hours, 3),
                "price_per_hour": price,
                "cost": round(hours * price, 4),
            }
        )
    return result


def summarise(rows: list[dict[str, Any]], reference: dict[str, Any] | None, config: BenchConfig) -> dict[str, Any]:
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["variant"] not in best or row["docs_per_second"] > best[row["variant"]]["docs_per_second"]:
            best[row["variant"]] = row
    fastest = max(best.values(), key=lambda r: r["docs_per_second"])
    f1 = {variant: row["test_micro_f1"] for variant, row in best.items()}
    summary: dict[str, Any] = {
        "variant": "fp32",
        "docs_per_second": best["fp32"]["docs_per_second"] if "fp32" in best else None,
        "fastest_variant": fastest["variant"],
        "fastest_docs_per_second": fastest["docs_per_second"],
        "test_micro_f1": f1,
        "target_ratio": config.target_ratio,
        "reference_docs_per_second": None,
        "best_ratio_to_reference": None,
        "ratio_variant": None,
        "f1_kept": None,
        "target_met": None,
    }
    if reference:
        # "equal F1": no more than f1_tolerance points below the reference, nor below fp32 (what the
        # faster variant is a faster form of)
        floor = max(reference["test_micro_f1"], f1.get("fp32", 0.0)) - config.f1_tolerance / 100
        equal = [r for r in best.values() if r["test_micro_f1"] >= floor - 1e-9]
        pick = max(equal or best.values(), key=lambda r: r["docs_per_second"])
        ratio = pick["docs_per_second"] / reference["docs_per_second"]
        summary.update(
            reference_docs_per_second=reference["docs_per_second"],
            best_ratio_to_reference=round(ratio, 2),
            ratio_variant=pick["variant"],
            f1_kept=bool(equal),
            target_met=bool(equal) and ratio >= config.target_ratio,
        )
    return summary


def plot(bench: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = bench["variants"]
    labels = [f"{r['variant']} b{r['batch_size']}\nF1 {r['test_micro_f1']:.3f}" for r in rows]
    values = [r["docs_per_second"] for r in rows]
    if bench.get("reference"):
        labels.append(f"transformers\npipeline b1\nF1 {bench['reference']['test_micro_f1']:.3f}")
        values.append(bench["reference"]["docs_per_second"])
    figure, axis = plt.subplots(figsize=(max(6, 0.7 * len(rows)), 4))
    axis.bar(range(len(values)), values, color=["#4c72b0"] * len(rows) + ["#dd8452"] * (len(values) - len(rows)))
    axis.set_xticks(range(len(values)), labels, fontsize=6)
    axis.set_ylabel("documents per second")
    axis.set_title(f"{bench['run']} on {bench['device']} ({bench['threads']} threads)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def bench_run(run_dir: str | Path, config: BenchConfig | None = None, progress: bool = True) -> Path:
    """Benchmark every variant of a finished transformer run; writes and returns `<run>/bench.json`."""
    import torch
    from tqdm import tqdm

    config = config or BenchConfig()
    run_dir = Path(run_dir)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    variants = config.variants or list(GPU_VARIANTS if device.startswith("cuda") else CPU_VARIANTS)
    test = read_predictions(run_dir, "test")
    test = test[: config.f1_docs] if config.f1_docs else test
    sample = [row["words"] for row in test[: config.sample_docs]]
    if not sample:
        raise DataError(f"{run_dir}/predictions/test.jsonl", "holds no documents to benchmark")
    rows: list[dict[str, Any]] = []
    lengths: dict[str, Any] | None = None  # measured with the first variant's tokenizer
    sample_wordpieces = sample_windows = 0
    for variant in tqdm(variants, desc="bench", unit="variant", disable=not progress):
        model = load_inference(run_dir, variant, "cpu" if variant in ("int8", "onnx", "onnx-int8") else device)
        if lengths is None:
            from pipeline.modeling.features import encode_documents

            everything = [
                row["words"]
                for part in ("test", "validation")
                for row in (read_predictions(run_dir, part) if has_predictions(run_dir, part) else [])
            ]
            counts = doc_wordpieces(model.tokenizer, everything)
            lengths = {"documents": len(counts), "wordpieces_per_document": length_stats(counts)}
            sample_wordpieces = sum(doc_wordpieces(model.tokenizer, sample))
            sample_windows = len(
                encode_documents(model.tokenizer, sample, model.max_length, model.stride, model.truncate)
            )
        predicted = model.predict([row["words"] for row in test], config.f1_batch_size)
        f1 = micro_f1([row["gold"] for row in test], [tags for tags, _ in predicted])
        for row in variant_rows(model, sample, sample_wordpieces, sample_windows, config):
            rows.append({"variant": variant, "device": model.device, **row, "test_micro_f1": f1})
        del model
    if lengths is None:
        raise ConfigError("bench: no inference variant to measure")
    fp32_f1 = next((r["test_micro_f1"] for r in rows if r["variant"] == "fp32"), None)
    reference = reference_row(run_dir, device, sample, test, config) if config.reference else None
    for row in rows:
        row["f1_delta_vs_fp32"] = None if fp32_f1 is None else round(100 * (row["test_micro_f1"] - fp32_f1), 2)
        row["ratio_to_reference"] = (
            round(row["docs_per_second"] / reference["docs_per_second"], 2) if reference else None
        )
    metrics = read_optional_record(RunFolder(run_dir).metrics, "metrics", run_dir.name) or {}
    bench: dict[str, Any] = {
        "run": run_dir.name,
        "created": datetime.now().isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "threads": torch.get_num_threads(),
        "versions": {**package_versions(), **onnx_versions()},
        "config": dataclasses.asdict(config),
        "sample": {"documents": len(sample), "wordpieces": sample_wordpieces, "windows": sample_windows},
        "lengths": lengths,
        "training_peak_memory_mb": metrics.get("peak_memory_mb"),
        "variants": [rounded(row) for row in rows],
        "reference": rounded(reference) if reference else None,
        "estimate": estimates(rows, lengths["wordpieces_per_document"]["mean"], config),
    }
    bench["summary"] = rounded(summarise(bench["variants"], bench["reference"], config))
    path = write_record(RunFolder(run_dir).bench, "bench", bench)
    if config.figure:
        plot(bench, RunFolder(run_dir).bench_figure)
    return path


def onnx_versions() -> dict[str, str]:
    import importlib.metadata

    return {name: importlib.metadata.version(name) for name in ("onnx", "onnxruntime")}


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def format_bench(bench: dict[str, Any]) -> str:
    """The variants table as plain text, for the command line."""
    lines = [
        f"{'variant':<10} {'batch':>5} {'docs/s':>8} {'wp/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'MB':>7} "
        f"{'F1':>6} {'xref':>5}"
    ]
    rows = bench["variants"] + (
        [{**bench["reference"], "variant": "reference", "ratio_to_reference": 1.0}] if bench.get("reference") else []
    )
    for r in rows:
        lines.append(
            f"{r['variant']:<10} {r['batch_size']:>5} {r['docs_per_second']:>8.2f} "
            f"{r['wordpieces_per_second']:>9.0f} {fmt(r.get('latency_ms_median'))} {fmt(r.get('latency_ms_p95'))} "
            f"{r['peak_memory_mb']:>7.0f} {r['test_micro_f1']:>6.3f} {fmt(r.get('ratio_to_reference'), 5, 2)}"
        )
    for e in bench["estimate"]:
        lines.append(
            f"{e['notes']} notes with {e['variant']} (batch {e['batch_size']}, {e['device']}): "
            f"{e['hours']:.2f} h, ${e['cost']:.2f} at ${e['price_per_hour']}/h"
        )
    return "\n".join(lines)


def fmt(value: float | None, width: int = 8, digits: int = 1) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else " " * (width - 1) + "-"
