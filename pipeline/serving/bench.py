"""`bench`: latency, throughput, memory, efficiency and F1 of every inference variant of a run, next to
the plain transformers pipeline, and what 10,000 notes would take and cost.

Fairness. Every subject (each variant, the reference pipeline) lives in its own worker process
(`pipeline.serving.bench_worker`), so its peak memory is its own. Each is loaded, scores validation
and test, then gets the same warm-up (one untimed pass over the sample at every batch size). Timing
runs in `rounds` interleaved rounds: reference, variant 1, reference, variant 2, ...; a variant's ratio
in a round is over the reference block just before it, so slow drifts of a shared machine cancel,
and bench.json gives the median ratio with its min-max over rounds, at batch 1 against batch 1 and
at each side's best batch size. The reference is timed at the same batch sizes (`pipeline(...,
batch_size=n)`; it batches texts, the variants windows).

Choices are made on validation: first the inference windows (`windows` candidates, with fp32: the
fewest encoder FLOPs per wordpiece, which counts both the positions that overlapping windows read
twice and the attention that grows with the window's width, whose validation F1 stays within
`f1_tolerance` points of the run's own windows), then the variant `predict` uses by default (`summary.chosen`: the fastest at its
best batch size whose validation F1 stays within `f1_tolerance` of fp32 with the run's windows). Test
F1 is reported once, beside it. A combined run chooses nothing: its transformer part runs what bench
chose for the transformer run (`predict.chosen_inference`, as predict runs it), timed beside the run as
recorded (fp32 with its own windows), and `summary.chosen` is that subject whatever its F1
(`f1_kept` says whether it kept the run's own).

Efficiency: a short matmul probe (`peak`) measures this machine's fp32, bf16 and int8 throughput;
each row gives the encoder's useful GFLOP/s (FLOPs of the real window widths, padding not counted)
and that as a share of the peak of its number format.

`<run>/bench.json` (read by comparison.py and the report: keep these keys):
    run, kind ("transformer" | "combined" | "crf"), created, device ("cpu" or the GPU name), threads, versions,
    config {BenchConfig}, cpu {flags: the bf16/int8 instruction sets found}, peak {fp32, bf16, int8: GFLOP/s
    (GOP/s for int8) of the CPU, null when not measurable}, gpu_peak {fp32, fp16, bf16, int8} of the GPU | null
    (a GPU row's peak_share is of gpu_peak, a CPU row's of peak)
    sample {documents, words, wordpieces, wordpieces_read, windows, positions}   the first `sample_docs`
                                                     test documents, with the run's windows
    lengths {documents, words_per_document {mean, median, p95, max}}   all test+validation documents
    training_peak_memory_mb                          from metrics.json (null when absent)
    windows: [{max_length, overlap, validation_micro_f1, positions_per_wordpiece, mflop_per_wordpiece, chosen}]
                                                     the window choice
    variants: one row per (subject, batch_size), batch_size 1 = one document at a time:
        {label, variant, max_length, overlap (null for a CRF), device, batch_size, docs_per_second (median
         over rounds), docs_per_second_min, docs_per_second_max, words_per_second, wordpieces_per_second
         (wordpieces read), latency_ms_median, latency_ms_p95 (batch 1 only, else null), peak_memory_mb
         (the worker process's peak: RSS on CPU, torch's allocator on GPU), positions_per_wordpiece,
         gflops_per_second, peak_share (of the probe's peak for its number format), test_micro_f1,
         validation_micro_f1, f1_delta_vs_fp32 (test points), ratio_to_reference {median, min, max} at the
         same batch size | null}
    reference: {name, mapping, batch_size (its best), docs_per_second (at it), rows [per batch size, the
                variants' columns], test_micro_f1, validation_micro_f1, truncated_documents (of the test
                documents), test_documents, peak_memory_mb} | null
    estimate: [{variant, device, batch_size, notes, hours, price_per_hour, cost}]   best batch size per subject
    summary: {variant "fp32", docs_per_second (fp32 with the run's windows at its best batch size),
              fastest_variant, fastest_docs_per_second, chosen {label, variant, max_length, overlap,
              batch_size, device}, ratio_variant (= chosen label), best_ratio_to_reference (median, best
              with best), ratio_best {median, min, max, batch_size, reference_batch_size}, ratio_batch_1
              {median, min, max}, reference_docs_per_second, target_ratio, target_min_ratio, target_met,
              f1_kept, test_micro_f1 {label: f1}, cpu_vs_gpu [{variant, cpu_latency_ms, gpu_latency_ms,
              slowdown}] | null (null on a CPU-only machine)}
and the figure `<run>/bench.png` (documents/s per subject and batch size, the spread as error bars).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from pipeline.config import BenchConfig, PredictConfig
from pipeline.core.documents import DataError
from pipeline.core.errors import ConfigError, MissingInputError, PipelineError
from pipeline.core.layout import (
    RunFolder,
    has_predictions,
    read_optional_record,
    read_predictions,
    read_run_config,
    write_record,
)
from pipeline.core.provenance import package_versions
from pipeline.modeling.backends import (
    CPU_ONLY,
    CPU_VARIANTS,
    GPU_VARIANTS,
    GRAPH_VARIANTS,
    OPTIONAL_PACKAGES,
    encoder_run,
    missing_packages,
)
from pipeline.serving.bench_worker import REFERENCE_MAPPING, REFERENCE_NAME
from pipeline.serving.figures import write_bench_figure
from pipeline.serving.predict import chosen_inference

log = logging.getLogger(__name__)
CPU_GPU_VARIANTS = ("fp32", "onnx-int8")  # on a GPU machine, the CPU rows set beside the GPU ones
NUMBER_FORMAT = {
    "fp32": "fp32",
    "onnx": "fp32",
    "fp16": "fp16",
    "bf16": "bf16",
    "int8": "int8",
    "onnx-int8": "int8",
    "openvino-int8": "int8",
}
NUMBER_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


class BenchError(PipelineError):
    """A bench worker failed; the message carries the end of its log."""


# --- the subjects -----------------------------------------------------------------------------


@dataclasses.dataclass
class Subject:
    """One thing to time: a run kind's model in one variant and windowing, or the reference pipeline."""

    kind: str
    variant: str
    device: str
    windows: tuple[int, int] | None = None  # (max_length, overlap) at inference; None: the run's own
    beside_gpu: bool = False  # one of the CPU rows of a GPU bench

    @property
    def label(self) -> str:
        if self.kind == "reference":
            return "transformers pipeline"
        name = self.variant + (" (CPU)" if self.beside_gpu else "")
        return name + (f" {self.windows[0]}/{self.windows[1]}" if self.windows else "")


ENCODER_KINDS = ("transformer", "combined")  # the kinds of run that read text through a transformer


def run_kind(run_dir: Path) -> str:
    """ "crf", "combined" or "transformer", from what the run saved (a new kind of run adds one branch here
    and one runner in `pipeline.serving.bench_worker.RUNNERS`)."""
    folder = RunFolder(run_dir)
    if folder.crf_model.exists():
        return "crf"
    if (RunFolder(encoder_run(run_dir)).model / "config.json").exists():
        return "combined" if folder.combined.exists() else "transformer"
    raise MissingInputError(f"{run_dir}: neither a transformer model nor a CRF under {folder.model}")


def served_subject(run_dir: Path, device: str) -> Subject:
    """A combined run as `predict` runs it (`chosen_inference`): its transformer part in the variant and
    windows bench chose for the transformer run, or fp32 with the run's windows without that choice."""
    chosen = chosen_inference(run_dir, PredictConfig())
    return Subject("combined", chosen.variant, "cpu" if chosen.variant in CPU_ONLY else device, chosen.windows)


class Worker:
    """A subject loaded in its own Python process (`pipeline.serving.bench_worker`)."""

    def __init__(self, subject: Subject, run_dir: Path, config: BenchConfig, threads: int) -> None:
        self.subject = subject
        self.last: dict[str, Any] = {}
        self.log: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.serving.bench_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.started = self.call(
            {
                "op": "start",
                "kind": subject.kind,
                "run": str(run_dir),
                "variant": subject.variant,
                "windows": list(subject.windows) if subject.windows else None,
                "device": subject.device,
                "threads": threads,
                "sample_docs": config.sample_docs,
            }
        )

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # both are pipes
        try:
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
            line = stdout.readline()
        except BrokenPipeError:
            line = ""
        reply = json.loads(line) if line else {"error": "the worker exited"}
        self.last = reply
        if "error" in reply:
            self.log.seek(0)
            tail = self.log.read()[-2000:]
            self.close()
            raise BenchError(f"bench worker for {self.subject.label}: {reply['error']}\n{tail}")
        return reply

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin:
            try:
                self.process.stdin.write('{"op": "exit"}\n')
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        self.process.wait(timeout=60)
        self.log.close()


# --- arithmetic --------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and range of per-round values."""
    return {"median": float(statistics.median(values)), "min": float(min(values)), "max": float(max(values))}


def round_ratios(variant_seconds: Sequence[float], reference_seconds: Sequence[float]) -> list[float]:
    """Speed ratio per round (the same documents in each, so docs/s over docs/s = seconds over seconds)."""
    if len(variant_seconds) != len(reference_seconds):
        raise ValueError("a ratio needs one reference time per variant round")
    return [ref / var for var, ref in zip(variant_seconds, reference_seconds)]


def best_batch(seconds: dict[int, list[float]]) -> int:
    """The batch size with the lowest median time over rounds."""
    return min(seconds, key=lambda batch: statistics.median(seconds[batch]))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def length_stats(counts: Sequence[int]) -> dict[str, float]:
    return {
        "mean": round(float(np.mean(counts)), 1),
        "median": float(np.median(counts)),
        "p95": round(percentile(counts, 95), 1),
        "max": int(max(counts)),
    }


# --- the machine -----------------------------------------------------------------------------


def cpu_flags() -> list[str]:
    """The bf16 / int8 instruction sets this CPU reports (Linux /proc/cpuinfo; empty elsewhere)."""
    wanted = ("avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [flag for flag in wanted if flag in flags]


def default_subjects(kind: str, device: str, config: BenchConfig, flags: Sequence[str]) -> list[str]:
    """Variants timed when none are asked for: bf16 on a CPU only with AMX (measured on an Intel CPU with
    AVX-512 BF16 but no AMX, torch bf16 ran 3-5x slower than fp32)."""
    if kind == "crf":
        return ["crf"]
    if config.variants:
        return list(config.variants)
    if device.startswith("cuda"):
        return list(GPU_VARIANTS)
    bf16 = ["bf16"] if "amx_bf16" in flags else []
    missing = [variant for variant in CPU_VARIANTS if missing_packages(variant)]
    for variant in missing:
        log.info(
            "bench: %s skipped (the %s package is not installed)", variant, " and ".join(missing_packages(variant))
        )
    return [CPU_VARIANTS[0], *bf16, *(v for v in CPU_VARIANTS[1:] if v not in missing)]


def peak_probe(seconds: float = 0.3, device: str = "cpu") -> dict[str, float | None]:
    """The matmul throughput of this machine's CPU, or of its GPU (GFLOP/s; GOP/s for int8): the best of
    repeated products over about `seconds` per format, with 1024x1024 operands on a CPU and 8192x8192 on
    a GPU (smaller ones leave a data-centre GPU idle); null where torch cannot run the format there."""
    import torch

    gpu = device.startswith("cuda")
    size = 8192 if gpu else 1024
    formats = ("fp32", "fp16", "bf16", "int8") if gpu else ("fp32", "bf16", "int8")
    finish = torch.cuda.synchronize if gpu else (lambda: None)
    result: dict[str, float | None] = {}
    for name in formats:
        try:
            if name == "int8":
                a = torch.randint(-64, 64, (size, size), dtype=torch.int8, device=device)

                def product(a: Any = a) -> Any:
                    return torch._int_mm(a, a)
            else:
                a = torch.randn(size, size, device=device).to(getattr(torch, NUMBER_DTYPES[name]))

                def product(a: Any = a) -> Any:
                    return a @ a

            product()
            finish()
            best, deadline = float("inf"), time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                product()
                finish()
                best = min(best, time.perf_counter() - start)
            result[name] = round(2 * size**3 / best / 1e9, 1)
        except RuntimeError:  # e.g. no int8 matmul kernel on this CPU / torch build
            result[name] = None
    return result


# --- choices on validation ---------------------------------------------------------------------


def model_positions(run_dir: Path) -> int:
    """The longest window the run's model takes (its position embeddings)."""
    from transformers import AutoConfig

    return int(AutoConfig.from_pretrained(RunFolder(encoder_run(run_dir)).model).max_position_embeddings)


def window_candidates(config: BenchConfig, positions: int) -> list[tuple[int, int]]:
    """`config.windows` as (max_length, overlap), those the model's `positions` allow."""
    candidates = []
    for text in config.windows:
        try:
            length, overlap = (int(part) for part in text.split("/"))
        except ValueError as exc:
            raise ConfigError(f"--windows {text!r}: expected max_length/overlap, e.g. 512/32") from exc
        if not 0 <= overlap < length - 2:
            raise ConfigError(f"--windows {text!r}: the overlap must be below the window's wordpieces")
        if length <= positions:
            candidates.append((length, overlap))
    return candidates


def choose_windows(options: list[dict[str, Any]], base_f1: float, tolerance: float) -> dict[str, Any]:
    """The option with the fewest encoder FLOPs per wordpiece whose validation F1 is within `tolerance`
    points of `base_f1` (options: {max_length, overlap, validation_micro_f1, mflop_per_wordpiece}); the
    first option (the run's own windows) when none qualifies."""
    kept = [o for o in options if o["validation_micro_f1"] >= base_f1 - tolerance / 100 - 1e-9]
    return min(kept or options[:1], key=lambda o: o["mflop_per_wordpiece"])


def choose_subject(rows: list[dict[str, Any]], base_f1: float, tolerance: float) -> dict[str, Any]:
    """The fastest row (best batch size) whose validation F1 is within `tolerance` points of `base_f1`."""
    kept = [r for r in rows if (r.get("validation_micro_f1") or 0.0) >= base_f1 - tolerance / 100 - 1e-9]
    return max(kept or rows, key=lambda r: r["docs_per_second"])


# --- rows --------------------------------------------------------------------------------------


def subject_rows(
    subject: Subject,
    facts: dict[str, Any],
    seconds: dict[int, list[float]],
    latency: list[list[float]],
    reference_seconds: dict[int, list[float]] | None,
    peak: dict[str, float | None],
) -> list[dict[str, Any]]:
    """One row per batch size from a subject's per-round times (and the reference block before each)."""
    rows = []
    documents = facts["documents"]
    for batch, times in sorted(seconds.items()):
        middle = statistics.median(times)
        row: dict[str, Any] = {
            "label": subject.label,
            "variant": subject.variant,
            "max_length": facts.get("max_length"),
            "overlap": facts.get("overlap"),
            "device": subject.device,
            "batch_size": batch,
            "docs_per_second": documents / middle,
            "docs_per_second_min": documents / max(times),
            "docs_per_second_max": documents / min(times),
            "words_per_second": facts["words"] / middle,
            "wordpieces_per_second": facts["wordpieces_read"] / middle if "wordpieces_read" in facts else None,
            "latency_ms_median": None,
            "latency_ms_p95": None,
            "positions_per_wordpiece": (
                round(facts["positions"] / facts["wordpieces_read"], 3) if "positions" in facts else None
            ),
            "gflops_per_second": facts["flops"] / middle / 1e9 if "flops" in facts else None,
            "peak_share": None,
            "ratio_to_reference": None,
        }
        if batch == 1 and latency:
            per_doc = [statistics.median(doc) for doc in zip(*latency)]  # each document's median over rounds
            row.update(latency_ms_median=statistics.median(per_doc), latency_ms_p95=percentile(per_doc, 95))
        number_format = NUMBER_FORMAT.get(subject.variant, "fp32")
        if row["gflops_per_second"] is not None and peak.get(number_format):
            row["peak_share"] = round(row["gflops_per_second"] / peak[number_format], 3)
        if reference_seconds and batch in reference_seconds:
            row["ratio_to_reference"] = rounded(spread(round_ratios(times, reference_seconds[batch])))
        rows.append(row)
    return rows


def best_with_best(
    seconds: dict[int, list[float]], reference_seconds: dict[int, list[float]]
) -> dict[str, float | int]:
    """Per-round ratio of the subject at its best batch size to the reference at its own best."""
    mine, theirs = best_batch(seconds), best_batch(reference_seconds)
    return {
        **spread(round_ratios(seconds[mine], reference_seconds[theirs])),
        "batch_size": mine,
        "reference_batch_size": theirs,
    }


def estimates(rows: list[dict[str, Any]], mean_words: float, config: BenchConfig) -> list[dict[str, Any]]:
    """Hours and cost of `config.notes` notes of the measured mean length, at each subject's best batch size."""
    result = []
    for label in dict.fromkeys(row["label"] for row in rows):
        best = max((r for r in rows if r["label"] == label), key=lambda r: r["words_per_second"])
        hours = config.notes * mean_words / best["words_per_second"] / 3600
        price = config.gpu_price_per_hour if best["device"].startswith("cuda") else config.cpu_price_per_hour
        result.append(
            {
                "variant": label,
                "device": best["device"],
                "batch_size": best["batch_size"],
                "notes": config.notes,
                "hours": round(hours, 3),
                "price_per_hour": price,
                "cost": round(hours * price, 4),
            }
        )
    return result


def cpu_vs_gpu(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """Batch-1 latency of each CPU subject beside the fastest GPU subject's; None without GPU rows."""
    gpu = [r for r in rows if r["device"].startswith("cuda") and r["latency_ms_median"] is not None]
    if not gpu:
        return None
    fastest = min(gpu, key=lambda r: r["latency_ms_median"])
    return [
        {
            "variant": r["label"],
            "gpu_variant": fastest["label"],
            "cpu_latency_ms": r["latency_ms_median"],
            "gpu_latency_ms": fastest["latency_ms_median"],
            "slowdown": round(r["latency_ms_median"] / fastest["latency_ms_median"], 2),
        }
        for r in rows
        if r["device"] == "cpu" and r["latency_ms_median"] is not None
    ]


def summarise(
    rows: list[dict[str, Any]],
    reference: dict[str, Any] | None,
    ratios: dict[str, dict[str, Any]],
    config: BenchConfig,
    served: str | None = None,
) -> dict[str, Any]:
    """The headline: the subject chosen on validation (or `served`, the label of the subject predict runs
    whatever bench finds: a combined run's), its ratios (median, min-max over rounds) and the verdict on
    the target (on test F1, reported once). `ratios`: {label: {"best": ..., "batch_1": ...}}."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["label"] not in best or row["docs_per_second"] > best[row["label"]]["docs_per_second"]:
            best[row["label"]] = row
    base = best.get("fp32") or next(iter(best.values()))
    if served:
        chosen = best[served]
    else:
        chosen = choose_subject(list(best.values()), base.get("validation_micro_f1") or 0.0, config.f1_tolerance)
    fastest = max(best.values(), key=lambda r: r["docs_per_second"])
    test_f1 = {label: row["test_micro_f1"] for label, row in best.items()}
    summary: dict[str, Any] = {
        "variant": base["label"],
        "docs_per_second": base["docs_per_second"],
        "fastest_variant": fastest["label"],
        "fastest_docs_per_second": fastest["docs_per_second"],
        "chosen": {key: chosen[key] for key in ("label", "variant", "max_length", "overlap", "batch_size", "device")},
        "ratio_variant": chosen["label"],
        "test_micro_f1": test_f1,
        "target_ratio": config.target_ratio,
        "target_min_ratio": config.target_min_ratio,
        "reference_docs_per_second": None,
        "best_ratio_to_reference": None,
        "ratio_best": None,
        "ratio_batch_1": None,
        "f1_kept": None,
        "target_met": None,
        "cpu_vs_gpu": cpu_vs_gpu(rows),
    }
    if reference and chosen["label"] in ratios:
        # "equal F1" on test: no more than f1_tolerance points below fp32 nor below the reference
        floor = max(reference["test_micro_f1"], base["test_micro_f1"]) - config.f1_tolerance / 100
        kept = chosen["test_micro_f1"] >= floor - 1e-9
        ratio = ratios[chosen["label"]]
        summary.update(
            reference_docs_per_second=reference["docs_per_second"],
            best_ratio_to_reference=round(ratio["best"]["median"], 2),
            ratio_best=rounded(ratio["best"]),
            ratio_batch_1=rounded(ratio["batch_1"]) if ratio.get("batch_1") else None,
            f1_kept=kept,
            target_met=kept
            and ratio["best"]["median"] >= config.target_ratio
            and ratio["best"]["min"] >= config.target_min_ratio,
        )
    return summary


# --- the run -----------------------------------------------------------------------------------


def interleaved_rounds(
    workers: list[Worker], reference: Worker | None, config: BenchConfig, progress: bool
) -> tuple[dict[str, dict[int, list[float]]], dict[str, list[list[float]]], dict[str, dict[int, list[float]]]]:
    """Per subject label: {batch: [seconds per round]}, [per-round batch-1 latencies], and the reference's
    times from the block just before that subject in each round."""
    from tqdm import tqdm

    batch_sizes = sorted({1, *config.batch_sizes})
    for worker in [*workers, *([reference] if reference else [])]:  # the same warm-up for every subject
        worker.call({"op": "time", "batch_sizes": batch_sizes})
    seconds: dict[str, dict[int, list[float]]] = {w.subject.label: {} for w in workers}
    latency: dict[str, list[list[float]]] = {w.subject.label: [] for w in workers}
    paired: dict[str, dict[int, list[float]]] = {w.subject.label: {} for w in workers}
    blocks = tqdm(total=config.rounds * len(workers), desc="bench rounds", unit="block", disable=not progress)
    for _ in range(config.rounds):
        for worker in workers:
            label = worker.subject.label
            if reference:
                for batch, value in reference.call({"op": "time", "batch_sizes": batch_sizes})["seconds"].items():
                    paired[label].setdefault(int(batch), []).append(value)
            timed = worker.call({"op": "time", "batch_sizes": batch_sizes})
            for batch, value in timed["seconds"].items():
                seconds[label].setdefault(int(batch), []).append(value)
            if timed["latency_ms"]:
                latency[label].append(timed["latency_ms"])
            blocks.update()
    blocks.close()
    return seconds, latency, paired


def bench_run(run_dir: str | Path, config: BenchConfig | None = None, progress: bool = True) -> Path:
    """Benchmark a finished run (transformer: every variant and the reference; combined: the run as recorded
    and as predict runs it, its transformer part in the variant and windows its transformer run's bench
    chose, beside the reference; CRF: its one row); writes and returns `<run>/bench.json`."""
    import torch

    config = config or BenchConfig()
    run_dir = Path(run_dir)
    kind = run_kind(run_dir)
    test = read_predictions(run_dir, "test")
    if not test[: config.sample_docs]:
        raise DataError(f"{run_dir}/predictions/test.jsonl", "holds no documents to benchmark")
    threads = config.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    device = config.device or ("cuda" if torch.cuda.is_available() else "cpu")
    flags = cpu_flags()
    peaks = {"cpu": peak_probe()}
    if device.startswith("cuda"):
        peaks[device] = peak_probe(device=device)
    scored: dict[str, dict[str, Any]] = {}
    facts: dict[str, dict[str, Any]] = {}
    workers: list[Worker] = []
    reference: Worker | None = None
    windows_table: list[dict[str, Any]] = []
    served: Subject | None = None  # a combined run's subject as predict runs it, reported as the choice
    started: list[Worker] = []  # every worker, closed at the end whatever happens

    def start(subject: Subject, parts: Sequence[str] = ("validation", "test")) -> Worker:
        if subject.variant in GRAPH_VARIANTS:  # a throwaway worker makes the graph (export, calibration), so the
            Worker(subject, run_dir, config, threads).close()  # timed one's peak memory is a predictor's that finds it
        worker = Worker(subject, run_dir, config, threads)
        started.append(worker)
        worker.call({"op": "score", "parts": list(parts), "batch_size": config.f1_batch_size})
        scored[subject.label] = worker.last
        facts[subject.label] = {**worker.started["facts"], **window_facts(subject, run_dir)}
        return worker

    try:
        base = Subject(kind, "crf", "cpu") if kind == "crf" else Subject(kind, "fp32", device)
        workers.append(start(base))
        if kind == "combined":  # the run as recorded, and as predict runs it: nothing chosen again
            served = served_subject(run_dir, device)
            if served.label != base.label:
                workers.append(start(served))
        if kind == "transformer":
            variants = default_subjects(kind, device, config, flags)
            windows_table = [window_option(base, facts, scored, own=True)]
            probes = {}
            for length, overlap in window_candidates(config, model_positions(run_dir)):
                probes[length, overlap] = start(Subject(kind, "fp32", base.device, (length, overlap)), ["validation"])
                windows_table.append(window_option(probes[length, overlap].subject, facts, scored))
            pick = choose_windows(windows_table, scored[base.label]["f1"]["validation"], config.f1_tolerance)
            chosen_windows = None if pick is windows_table[0] else (pick["max_length"], pick["overlap"])
            pick["chosen"] = True
            for windows, probe in probes.items():
                if windows == chosen_windows:  # fp32 with the chosen windows is timed too
                    probe.call({"op": "score", "parts": ["test"], "batch_size": config.f1_batch_size})
                    scored[probe.subject.label]["f1"].update(probe.last["f1"])
                    workers.append(probe)
                else:
                    probe.close()
            subjects = [Subject(kind, v, device, chosen_windows) for v in variants if v != "fp32" or chosen_windows]
            subjects = [s for s in subjects if s.label not in {w.subject.label for w in workers}]
            if device.startswith("cuda"):  # the same run on this machine's CPU, beside the GPU rows
                subjects += [Subject(kind, v, "cpu", chosen_windows, beside_gpu=True) for v in CPU_GPU_VARIANTS]
            workers += [start(subject) for subject in subjects]
        if kind in ENCODER_KINDS and config.reference:
            reference = start(Subject("reference", "fp32", device))
        seconds, latency, paired = interleaved_rounds(workers, reference, config, progress)
        memory = {w.subject.label: w.call({"op": "memory"})["peak_memory_mb"] for w in workers}
        reference_memory = reference.call({"op": "memory"})["peak_memory_mb"] if reference else None
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.close()

    reference_times: dict[int, list[float]] = {}
    for times in paired.values():
        for batch, values in times.items():
            reference_times.setdefault(batch, []).extend(values)
    rows: list[dict[str, Any]] = []
    ratios: dict[str, dict[str, Any]] = {}
    for worker in workers:
        subject, label = worker.subject, worker.subject.label
        for row in subject_rows(
            subject, facts[label], seconds[label], latency[label], paired[label] or None, peaks[subject.device]
        ):
            row.update(
                peak_memory_mb=memory[label],
                test_micro_f1=scored[label]["f1"].get("test"),
                validation_micro_f1=scored[label]["f1"].get("validation"),
            )
            rows.append(row)
        if paired[label]:
            ratios[label] = {"best": best_with_best(seconds[label], paired[label])}
            if 1 in seconds[label] and 1 in paired[label]:
                ratios[label]["batch_1"] = spread(round_ratios(seconds[label][1], paired[label][1]))
    fp32_f1 = rows[0]["test_micro_f1"]
    for row in rows:
        row["f1_delta_vs_fp32"] = round(100 * (row["test_micro_f1"] - fp32_f1), 2)
    reference_record = None
    if reference:
        label = reference.subject.label
        reference_rows = subject_rows(reference.subject, facts[label], reference_times, [], None, peaks[device])
        best = max(reference_rows, key=lambda r: r["docs_per_second"])
        reference_record = {
            "name": REFERENCE_NAME,
            "mapping": REFERENCE_MAPPING,
            "batch_size": best["batch_size"],
            "docs_per_second": best["docs_per_second"],
            "wordpieces_per_second": best["wordpieces_per_second"],
            "rows": [rounded({**r, "peak_memory_mb": reference_memory}) for r in reference_rows],
            "test_micro_f1": scored[label]["f1"]["test"],
            "validation_micro_f1": scored[label]["f1"].get("validation"),
            "truncated_documents": scored[label]["truncated"]["test"],
            "test_documents": scored[label]["documents"]["test"],
            "peak_memory_mb": reference_memory,
        }
    words = [
        len(row["words"])
        for part in ("test", "validation")
        for row in (read_predictions(run_dir, part) if has_predictions(run_dir, part) else [])
    ]
    metrics = read_optional_record(RunFolder(run_dir).metrics, "metrics", run_dir.name) or {}
    sample = facts[workers[0].subject.label]
    bench: dict[str, Any] = {
        "run": run_dir.name,
        "kind": kind,
        "created": datetime.now().isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu",
        "threads": threads,
        "versions": {**package_versions(), **onnx_versions()},
        "config": dataclasses.asdict(config),
        "cpu": {"flags": flags},
        "peak": peaks["cpu"],
        "gpu_peak": peaks.get(device) if device.startswith("cuda") else None,
        "sample": {
            key: sample.get(key)
            for key in ("documents", "words", "wordpieces", "wordpieces_read", "windows", "positions")
        },
        "lengths": {"documents": len(words), "words_per_document": length_stats(words)},
        "training_peak_memory_mb": metrics.get("peak_memory_mb"),
        "windows": windows_table,
        "variants": [rounded(row) for row in rows],
        "reference": rounded(reference_record) if reference_record else None,
        "estimate": estimates(rows, float(np.mean(words)), config),
    }
    bench["summary"] = rounded(
        summarise(bench["variants"], bench["reference"], ratios, config, served.label if served else None)
    )
    path = write_record(RunFolder(run_dir).bench, "bench", bench)
    if config.figure:
        write_bench_figure(bench, RunFolder(run_dir).bench_figure)
    return path


def window_facts(subject: Subject, run_dir: Path) -> dict[str, Any]:
    """The max_length / overlap the subject predicts with (None for a CRF or the reference)."""
    if subject.kind not in ENCODER_KINDS:
        return {}
    if subject.windows:
        return {"max_length": subject.windows[0], "overlap": subject.windows[1]}
    settings = read_run_config(encoder_run(run_dir))["train"]
    return {"max_length": int(settings["max_length"]), "overlap": int(settings["overlap"])}


def window_option(
    subject: Subject, facts: dict[str, dict[str, Any]], scored: dict[str, dict[str, Any]], own: bool = False
) -> dict[str, Any]:
    """One row of the window choice: the windows, fp32's validation F1 with them, and their cost."""
    mine = facts[subject.label]
    return {
        "max_length": mine["max_length"],
        "overlap": mine["overlap"],
        "run_windows": own,
        "validation_micro_f1": scored[subject.label]["f1"].get("validation", 0.0),
        "positions_per_wordpiece": round(mine["positions"] / mine["wordpieces_read"], 3),
        "mflop_per_wordpiece": round(mine["flops"] / mine["wordpieces_read"] / 1e6, 3),
        "chosen": False,
    }


def onnx_versions() -> dict[str, str]:
    import importlib.metadata
    import importlib.util

    optional = (package for packages in OPTIONAL_PACKAGES.values() for package in packages)
    names = ("onnx", "onnxruntime", *(p for p in optional if importlib.util.find_spec(p)))
    return {name: importlib.metadata.version(name) for name in names}


def rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def format_bench(bench: dict[str, Any]) -> str:
    """The subjects table as plain text, for the command line."""
    lines = [
        f"{'subject':<24} {'batch':>5} {'docs/s':>8} {'range':>13} {'p50 ms':>8} {'MB':>7} {'pos/wp':>6} "
        f"{'GFLOP/s':>7} {'peak%':>5} {'F1':>6} {'x ref (range)':>18}"
    ]
    reference = bench.get("reference")
    for r in bench["variants"] + (reference["rows"] if reference else []):
        ratio = r.get("ratio_to_reference")
        lines.append(
            f"{r['label']:<24} {r['batch_size']:>5} {r['docs_per_second']:>8.2f} "
            f"{r['docs_per_second_min']:>6.2f}-{r['docs_per_second_max']:<6.2f} {fmt(r.get('latency_ms_median'))} "
            f"{r['peak_memory_mb']:>7.0f} {fmt(r.get('positions_per_wordpiece'), 6, 2)} "
            f"{fmt(r.get('gflops_per_second'), 7, 1)} {fmt(100 * r['peak_share'] if r.get('peak_share') else None, 5, 0)} "
            f"{fmt(r.get('test_micro_f1'), 6, 3)} "
            + (f"{ratio['median']:>6.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else "")
        )
    summary = bench["summary"]
    lines.append(f"peak of this machine: {bench['peak']} (GFLOP/s; GOP/s for int8)")
    if bench.get("gpu_peak"):
        lines.append(f"peak of its GPU: {bench['gpu_peak']}")
    lines.append(f"chosen on validation: {summary['chosen']}")
    if summary.get("ratio_best"):
        best, one = summary["ratio_best"], summary.get("ratio_batch_1")
        lines.append(
            f"{summary['ratio_variant']} against the reference, best with best: {best['median']:.2f}x "
            f"(range {best['min']:.2f}-{best['max']:.2f} over {bench['config']['rounds']} rounds)"
            + (f"; batch 1 with batch 1: {one['median']:.2f}x ({one['min']:.2f}-{one['max']:.2f})" if one else "")
            + f"; target met: {summary['target_met']}"
        )
    for e in bench["estimate"]:
        lines.append(
            f"{e['notes']} notes with {e['variant']} (batch {e['batch_size']}, {e['device']}): "
            f"{e['hours']:.2f} h, ${e['cost']:.2f} at ${e['price_per_hour']}/h"
        )
    return "\n".join(lines)


def fmt(value: float | None, width: int = 8, digits: int = 1) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else " " * (width - 1) + "-"
