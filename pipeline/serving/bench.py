"""`bench`: latency, throughput, memory, efficiency and F1 of every inference variant of a run, next to
the plain transformers pipeline, and what 10,000 notes would take and cost.

Fairness. Every subject (each variant, the reference pipeline) lives in its own worker process
(`pipeline.serving.bench_worker`), so its peak memory is its own. Each is loaded, scores validation
and test, then gets the same warm-up (one untimed pass over the sample at every batch size). When the
rounds that warm-up predicts exceed `time_budget` seconds, every block times only the first documents of
the sample (at least 5) so that they fit, and every round is kept: a slow CPU gets a shorter bench with
its spread still measured (`timing`). A subject with a
CRF part keeps the words it has scored across calls (`pipeline.modeling.crf.PartRows`): every timed
pass starts from the cache the validation notes left, so no pass is timed on words an earlier pass
of the same sample put there. Timing
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
(`f1_kept` says whether it kept the run's own). Its transformer part alone, in the same variant and
windows, is timed in the same rounds too (`transformer_part`): what the CRF part costs, as a ratio.

Efficiency: a short matmul probe (`peak`) measures this machine's fp32, bf16 and int8 throughput;
each row gives the encoder's useful GFLOP/s (FLOPs of the real window widths, padding not counted)
and that as a share of the peak of its number format. The probe and the CPU's instruction sets also
drop, from the default list only, the variants that cannot win on this CPU (`skipped`).

The pieces, one job each: `bench_pool` (the subjects, their worker processes, the interleaved rounds),
`machine_probe` (instruction sets, matmul peaks, library versions), `bench_variants` (what is timed when
nothing is asked for), `bench_windows` (the window choice), `bench_summary` (rows, ratios, estimates, the
choice and the verdict), `bench_stats` (the arithmetic over rounds) and `bench_console` (the text table of
the command line); `bench_run` here runs them in order and writes bench.json.

`<run>/bench.json` (read by comparison.py and the report: keep these keys):
    run, kind ("transformer" | "combined" | "crf"), created, device ("cpu" or the GPU name), threads,
    machine {cpu (model name), vector (strongest of AMX, AVX-512 VNNI, AVX-512, AVX2), cores, gpu}, versions,
    config {BenchConfig}, cpu {flags: the bf16/int8 instruction sets found}, peak {fp32, bf16, int8: GFLOP/s
    (GOP/s for int8) of the CPU, null when not measurable}, gpu_peak {fp32, fp16, bf16, int8} of the GPU | null
    (a GPU row's peak_share is of gpu_peak, a CPU row's of peak)
    skipped: [{variant, reason}]                     variants of the default list not timed on this machine:
                                                     int8 ones without VNNI/AMX int8 instructions, bf16
                                                     without AMX (the reason gives the probe's numbers), or a
                                                     package not installed; empty when --variants names them
    sample {documents, words, wordpieces, wordpieces_read, windows, positions}   the test documents timed
                                                     (the first `sample_docs`, fewer under the time
                                                     budget), with the run's windows
    timing {rounds, time_budget, warm_up_seconds {label: s}, round_seconds_estimate, sampled_documents,
            timed_documents}                         how the time budget sized the timed blocks
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
    transformer_part: a combined run's transformer part alone, timed in the same rounds in the variant and
                windows the combined run is served in: {run, label, combined_label, rows [the variants'
                columns], ratio {median, min, max, batch_size, reference_batch_size} (the combined run's
                docs/s over the part's, per round, each at its best batch size), target_ratio, target_met}
                | null (other runs)
    students: lighter runs (`--students`) timed in the same rounds, each as predict runs it (its own bench's
                choice, else fp32): [{run, label, variant, max_length, overlap, batch_size, docs_per_second (at
                its best batch size), validation_micro_f1, test_micro_f1, validation_points (against this run's
                fp32), within_tolerance (student_tolerance), ratio_to_chosen and ratio_to_reference {median, min,
                max, batch_size, reference_batch_size} (round by round, each side at its best batch size),
                target_met (the speed target on ratio_to_reference), rows [the variants' columns]}]
    summary: {variant "fp32", docs_per_second (fp32 with the run's windows at its best batch size),
              fastest_variant, fastest_docs_per_second, chosen {label, variant, max_length, overlap,
              batch_size, device}, ratio_variant (= chosen label), best_ratio_to_reference (median, best
              with best), ratio_best {median, min, max, batch_size, reference_batch_size}, ratio_batch_1
              {median, min, max}, reference_docs_per_second, target_ratio, target_min_ratio, target_met,
              f1_kept, test_micro_f1 {label: f1}, cpu_vs_gpu [{variant, cpu_latency_ms, gpu_latency_ms,
              slowdown}] | null (null on a CPU-only machine), lighter: the student bench names instead of the
              chosen subject (the fastest within student_tolerance on validation and faster than the chosen
              in the median round: serve it with `predict --run <its run>`), its record without rows | null}
and the figure `<run>/bench.png` (documents/s per subject and batch size, the spread as error bars).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import BenchConfig
from pipeline.core.documents import DataError
from pipeline.core.errors import ConfigError
from pipeline.core.layout import (
    RunFolder,
    has_predictions,
    read_optional_record,
    read_predictions,
    write_record,
)
from pipeline.core.provenance import machine, package_versions
from pipeline.modeling.backends import GRAPH_VARIANTS, encoder_run
from pipeline.serving.bench_pool import (
    ENCODER_KINDS,
    Subject,
    Worker,
    batch_sizes_timed,
    budget_documents,
    interleaved_rounds,
    part_subject,
    round_seconds,
    run_kind,
    served_subject,
    student_subject,
    warm_up,
)
from pipeline.serving.bench_stats import length_stats, round_ratios, rounded, spread
from pipeline.serving.bench_summary import (
    best_with_best,
    estimates,
    lighter_choice,
    student_record,
    subject_rows,
    summarise,
)
from pipeline.serving.bench_variants import CPU_GPU_VARIANTS, default_subjects
from pipeline.serving.bench_windows import (
    choose_windows,
    model_positions,
    window_candidates,
    window_facts,
    window_option,
)
from pipeline.serving.bench_worker import REFERENCE_MAPPING, REFERENCE_NAME
from pipeline.serving.figures import write_bench_figure
from pipeline.serving.machine_probe import cpu_flags, onnx_versions, peak_probe


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
    skipped: list[dict[str, str]] = []  # default variants not timed on this machine, with why
    served: Subject | None = None  # a combined run's subject as predict runs it, reported as the choice
    part: Worker | None = None  # a combined run's transformer part alone, as the combined run is served
    students: list[Worker] = []  # lighter runs, each as predict runs it
    if config.students and kind != "transformer":
        raise ConfigError(f"{run_dir.name} is a {kind} run: --students are timed beside a transformer run")
    started: list[Worker] = []  # every worker, closed at the end whatever happens

    def start(subject: Subject, parts: Sequence[str] = ("validation", "test"), folder: Path = run_dir) -> Worker:
        if subject.variant in GRAPH_VARIANTS:  # a throwaway worker makes the graph (export, calibration), so the
            Worker(subject, folder, config, threads).close()  # timed one's peak memory is a predictor's that finds it
        worker = Worker(subject, folder, config, threads)
        started.append(worker)
        worker.call({"op": "score", "parts": list(parts), "batch_size": config.f1_batch_size})
        scored[subject.label] = worker.last
        facts[subject.label] = {**worker.started["facts"], **window_facts(subject, folder)}
        return worker

    try:
        base = Subject(kind, "crf", "cpu") if kind == "crf" else Subject(kind, "fp32", device)
        workers.append(start(base))
        if kind == "combined":  # the run as recorded, and as predict runs it: nothing chosen again
            served = served_subject(run_dir, device)
            if served.label != base.label:
                workers.append(start(served))
            part = start(part_subject(served), folder=encoder_run(run_dir))
        if kind == "transformer":
            variants, skipped = default_subjects(kind, device, config, flags, peaks["cpu"])
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
            for name in dict.fromkeys(config.students):  # each once: a label is timed once
                folder = Path(name)
                students.append(start(student_subject(folder, run_dir, device), folder=folder))
        if kind in ENCODER_KINDS and config.reference:
            reference = start(Subject("reference", "fp32", device))
        timed = [*workers, *students, *([part] if part else [])]
        everyone = [*timed, *([reference] if reference else [])]
        warm = warm_up(everyone, batch_sizes_timed(config))
        sampled = facts[timed[0].subject.label]["documents"]
        labels, reference_label = [w.subject.label for w in timed], reference.subject.label if reference else None
        kept = budget_documents(warm, labels, reference_label, sampled, config)
        if kept < sampled:
            for worker in everyone:
                facts[worker.subject.label].update(worker.call({"op": "sample", "documents": kept})["facts"])
        timing = {
            "rounds": config.rounds,
            "time_budget": config.time_budget,
            "warm_up_seconds": warm,
            "round_seconds_estimate": round_seconds(warm, labels, reference_label),
            "sampled_documents": sampled,
            "timed_documents": kept,
        }
        seconds, latency, paired = interleaved_rounds(timed, reference, config, progress)
        memory = {w.subject.label: w.call({"op": "memory"})["peak_memory_mb"] for w in timed}
        reference_memory = reference.call({"op": "memory"})["peak_memory_mb"] if reference else None
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.close()

    reference_times: dict[int, list[float]] = {}
    for times in paired.values():
        for batch, values in times.items():
            reference_times.setdefault(batch, []).extend(values)

    def timed_rows(worker: Worker) -> list[dict[str, Any]]:
        subject, label = worker.subject, worker.subject.label
        rows = subject_rows(
            subject, facts[label], seconds[label], latency[label], paired[label] or None, peaks[subject.device]
        )
        for row in rows:
            row.update(
                peak_memory_mb=memory[label],
                test_micro_f1=scored[label]["f1"].get("test"),
                validation_micro_f1=scored[label]["f1"].get("validation"),
            )
        return rows

    rows: list[dict[str, Any]] = []
    ratios: dict[str, dict[str, Any]] = {}
    for worker in workers:
        label = worker.subject.label
        rows += timed_rows(worker)
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
        "machine": machine(),
        "versions": {**package_versions(), **onnx_versions()},
        "config": dataclasses.asdict(config),
        "cpu": {"flags": flags},
        "peak": peaks["cpu"],
        "gpu_peak": peaks.get(device) if device.startswith("cuda") else None,
        "skipped": skipped,
        "timing": timing,
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
        "transformer_part": None,
    }
    if part and served:
        ratio = best_with_best(seconds[served.label], seconds[part.subject.label])
        bench["transformer_part"] = {
            "run": encoder_run(run_dir).name,
            "label": part.subject.label,
            "combined_label": served.label,
            "rows": [rounded(row) for row in timed_rows(part)],
            "ratio": rounded(ratio),
            "target_ratio": config.part_target_ratio,
            "target_met": ratio["median"] >= config.part_target_ratio,
        }
    bench["summary"] = rounded(
        summarise(bench["variants"], bench["reference"], ratios, config, served.label if served else None)
    )
    chosen_label, base_validation = bench["summary"]["chosen"]["label"], rows[0]["validation_micro_f1"] or 0.0
    bench["students"] = [
        rounded(
            student_record(
                worker.subject,
                [rounded(row) for row in timed_rows(worker)],
                seconds[worker.subject.label],
                seconds[chosen_label],
                paired[worker.subject.label] or None,
                base_validation,
                config,
            )
        )
        for worker in students
    ]
    bench["summary"]["lighter"] = lighter_choice(bench["students"])
    path = write_record(RunFolder(run_dir).bench, "bench", bench)
    if config.figure:
        write_bench_figure(bench, RunFolder(run_dir).bench_figure)
    return path
