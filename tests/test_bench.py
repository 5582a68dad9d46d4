"""bench: fair ratios (interleaved rounds, same batch sizes), per-process memory, choices on validation,
the CRF row, the reference mapping, the estimate, and predict running the chosen variant."""

from __future__ import annotations

import numpy as np
import psutil
import pytest

from pipeline.config import BenchConfig, PredictConfig
from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json
from pipeline.core.layout import read_predictions, read_run_config, write_record
from pipeline.core.provenance import machine
from pipeline.core.scoring import strict_scores
from pipeline.modeling.backends import load_inference
from pipeline.serving.bench import bench_run
from pipeline.serving.bench_console import format_bench, student_sentence
from pipeline.serving.bench_pool import BenchError, Subject, Worker, student_subject
from pipeline.serving.bench_stats import round_ratios, spread
from pipeline.serving.bench_summary import (
    best_with_best,
    choose_subject,
    estimates,
    lighter_choice,
    subject_rows,
    summarise,
)
from pipeline.serving.bench_variants import default_subjects, instruction_skips
from pipeline.serving.bench_windows import choose_windows
from pipeline.serving.bench_worker import reference_tags
from pipeline.serving.machine_probe import peak_probe
from pipeline.serving.predict import chosen_inference

# --- arithmetic, by hand ---------------------------------------------------------------------------


def test_a_rounds_ratio_is_the_reference_blocks_seconds_over_the_variants():
    # the same 20 documents each round: 4 s / 2 s = 2.0, 5 / 2 = 2.5, 3 / 1.5 = 2.0
    ratios = round_ratios([2.0, 2.0, 1.5], [4.0, 5.0, 3.0])
    assert ratios == [2.0, 2.5, 2.0]
    assert spread(ratios) == {"median": 2.0, "min": 2.0, "max": 2.5}


def test_best_with_best_pairs_each_sides_own_fastest_batch_size_round_by_round():
    variant = {1: [2.0, 2.2, 2.1], 8: [1.0, 1.2, 0.9]}  # best: batch 8 (median 1.0 s)
    reference = {1: [3.0, 3.3, 2.7], 8: [3.6, 3.0, 3.9]}  # best: batch 1 (median 3.0 s against 3.6 s)
    ratio = best_with_best(variant, reference)
    # rounds: 3.0/1.0 = 3.0, 3.3/1.2 = 2.75, 2.7/0.9 = 3.0
    assert (ratio["batch_size"], ratio["reference_batch_size"]) == (8, 1)
    assert ratio["median"] == pytest.approx(3.0) and ratio["min"] == pytest.approx(2.75)
    assert ratio["max"] == pytest.approx(3.0)


def test_a_ratio_needs_one_reference_block_per_variant_round():
    with pytest.raises(ValueError, match="one reference time per variant round"):
        round_ratios([1.0, 1.0], [2.0])


def test_windows_are_the_cheapest_in_flops_whose_validation_f1_stays_within_the_tolerance():
    options = [
        {"max_length": 256, "overlap": 64, "validation_micro_f1": 0.5725, "mflop_per_wordpiece": 27.6},
        {"max_length": 256, "overlap": 32, "validation_micro_f1": 0.5766, "mflop_per_wordpiece": 24.5},
        {"max_length": 192, "overlap": 16, "validation_micro_f1": 0.5700, "mflop_per_wordpiece": 23.3},
        {"max_length": 512, "overlap": 32, "validation_micro_f1": 0.5600, "mflop_per_wordpiece": 24.0},
    ]
    # 192/16 is cheapest and 0.25 points below 0.5725: chosen; 512/32 reads fewer positions per wordpiece than
    # 256/32 but its wide attention costs more FLOPs than 192/16's, and it is 1.25 points below anyway
    assert choose_windows(options, 0.5725, tolerance=0.5)["max_length"] == 192
    assert choose_windows(options, 0.5725, tolerance=0.2)["overlap"] == 32  # 192/16 now too far below
    assert choose_windows(options, 0.5800, tolerance=0.1)["overlap"] == 64  # none qualifies: the run's own


def test_the_chosen_subject_is_the_fastest_within_the_tolerance_on_validation():
    rows = [
        {"label": "fp32", "docs_per_second": 10.0, "validation_micro_f1": 0.580},
        {"label": "int8", "docs_per_second": 30.0, "validation_micro_f1": 0.570},  # 1 point below
        {"label": "onnx-int8", "docs_per_second": 25.0, "validation_micro_f1": 0.577},  # 0.3 below
    ]
    assert choose_subject(rows, 0.580, tolerance=0.5)["label"] == "onnx-int8"


def row(label: str, batch: int, docs: float, test_f1: float, validation_f1: float) -> dict:
    return {
        "label": label,
        "variant": label,
        "max_length": 256,
        "overlap": 32,
        "device": "cpu",
        "batch_size": batch,
        "docs_per_second": docs,
        "latency_ms_median": None,
        "test_micro_f1": test_f1,
        "validation_micro_f1": validation_f1,
    }


@pytest.mark.parametrize(
    "ratio, met",
    [
        ({"median": 2.6, "min": 2.1, "max": 2.9}, True),
        ({"median": 2.6, "min": 1.9, "max": 2.9}, False),  # one round under the 2.0 floor
        ({"median": 2.4, "min": 2.1, "max": 2.9}, False),  # median under 2.5
    ],
)
def test_the_target_needs_the_median_ratio_and_the_worst_round(ratio, met):
    rows = [row("fp32", 8, 10.0, 0.59, 0.58), row("onnx-int8", 8, 30.0, 0.588, 0.578)]
    best = {**ratio, "batch_size": 8, "reference_batch_size": 1}
    summary = summarise(
        rows, {"docs_per_second": 11.0, "test_micro_f1": 0.50}, {"onnx-int8": {"best": best}}, BenchConfig()
    )
    assert summary["ratio_variant"] == "onnx-int8" and summary["target_met"] is met
    assert summary["chosen"]["overlap"] == 32 and summary["cpu_vs_gpu"] is None  # no GPU rows


def student(run: str, docs: float, within: bool, over_chosen: float) -> dict:
    ratio = {"median": over_chosen, "min": over_chosen, "max": over_chosen, "batch_size": 8, "reference_batch_size": 8}
    return {"run": run, "docs_per_second": docs, "within_tolerance": within, "ratio_to_chosen": ratio, "rows": []}


def test_the_lighter_choice_is_the_fastest_student_within_the_tolerance_that_beats_the_chosen_subject():
    three, two, one = (
        student("3layers", 70.0, True, 1.4),
        student("2layers", 90.0, True, 1.8),
        student("1", 99.0, False, 2.0),
    )
    assert lighter_choice([three, two, one])["run"] == "2layers"  # the 1-layer one loses too much on validation
    assert "rows" not in lighter_choice([three])
    assert lighter_choice([one]) is None
    assert lighter_choice([student("slow", 40.0, True, 0.9)]) is None  # within tolerance but slower than the chosen
    assert lighter_choice([]) is None


def test_the_target_is_not_met_when_the_choice_loses_more_than_half_a_point_on_test():
    # chosen on validation (0.578 against 0.58), but 0.6 points below fp32 on test: reported, not met
    rows = [row("fp32", 8, 10.0, 0.590, 0.580), row("onnx-int8", 8, 30.0, 0.584, 0.578)]
    best = {"median": 3.0, "min": 2.8, "max": 3.1, "batch_size": 8, "reference_batch_size": 8}
    summary = summarise(
        rows, {"docs_per_second": 10.0, "test_micro_f1": 0.5}, {"onnx-int8": {"best": best}}, BenchConfig()
    )
    assert (summary["ratio_variant"], summary["f1_kept"], summary["target_met"]) == ("onnx-int8", False, False)


def test_gpu_rows_are_set_beside_each_cpu_rows_batch_1_latency():
    rows = [
        {**row("fp32", 1, 40.0, 0.59, 0.58), "device": "cuda", "latency_ms_median": 5.0},
        {**row("fp16", 1, 60.0, 0.59, 0.58), "device": "cuda", "latency_ms_median": 4.0},
        {**row("fp32 (CPU)", 1, 10.0, 0.59, 0.58), "latency_ms_median": 100.0},
        {**row("onnx-int8 (CPU)", 1, 20.0, 0.588, 0.578), "latency_ms_median": 50.0},
    ]
    summary = summarise(rows, None, {}, BenchConfig())
    assert [(r["variant"], r["gpu_variant"], r["slowdown"]) for r in summary["cpu_vs_gpu"]] == [
        ("fp32 (CPU)", "fp16", 25.0),
        ("onnx-int8 (CPU)", "fp16", 12.5),
    ]


def test_a_cpu_probe_measures_fp32_bf16_and_int8_matmuls():
    peak = peak_probe(seconds=0.05)
    assert list(peak) == ["fp32", "bf16", "int8"] and peak["fp32"] > 0


def test_a_gpu_rows_share_of_peak_is_of_its_own_number_format_on_the_peak_it_is_given():
    facts = {"documents": 10, "words": 1000, "flops": 2e12}  # 2 TFLOP in 2 s: 1,000 GFLOP/s
    gpu_peak = {"fp32": 50_000.0, "fp16": 500_000.0, "bf16": 500_000.0}
    (fp16,) = subject_rows(Subject("transformer", "fp16", "cuda"), facts, {8: [2.0]}, [], None, gpu_peak)
    (bf16,) = subject_rows(Subject("transformer", "bf16", "cuda"), facts, {8: [2.0]}, [], None, {"fp32": 1.0})
    assert (fp16["gflops_per_second"], fp16["peak_share"]) == (1000.0, 0.002)
    assert bf16["peak_share"] is None  # no bf16 peak measured there: no share, never another format's


AVX2_ONLY = ["sse4_2", "avx", "avx2", "fma", "f16c"]  # an AMD EPYC's: no AVX-512, no VNNI
AVX2_PEAK = {"fp32": 62.0, "bf16": 0.6, "int8": 1.6}  # its probe
AMX = ["avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni"]  # a Sapphire Rapids Xeon's
AMX_PEAK = {"fp32": 335.0, "bf16": 168.0, "int8": 1377.0}


def test_a_cpu_without_int8_or_bf16_instructions_skips_those_variants_with_the_probes_numbers():
    skipped = instruction_skips(["fp32", "bf16", "int8", "onnx", "onnx-int8", "openvino-int8"], AVX2_ONLY, AVX2_PEAK)
    int8 = "no VNNI/AMX int8 instructions (probe: int8 1.6 GOP/s, fp32 62 GFLOP/s)"
    assert skipped == [
        {
            "variant": "bf16",
            "reason": "no AVX-512 BF16/AMX bf16 instructions (probe: bf16 0.6 GFLOP/s, fp32 62 GFLOP/s)",
        },
        {"variant": "int8", "reason": int8},
        {"variant": "openvino-int8", "reason": int8},
    ]  # onnx-int8 stays: ONNX Runtime's int8 kernels run on AVX2
    variants, listed = default_subjects("transformer", "cpu", BenchConfig(), AVX2_ONLY, AVX2_PEAK)
    assert variants == ["fp32", "onnx", "onnx-int8"] and listed == skipped


def test_onnx_int8_is_skipped_on_a_cpu_without_avx2_or_int8_instructions():
    (skipped,) = instruction_skips(["onnx-int8"], ["sse4_2"], AVX2_PEAK)
    assert skipped["reason"].startswith("no VNNI/AMX int8 instructions")


def test_a_cpu_with_amx_skips_nothing():
    variants = ["fp32", "bf16", "int8", "onnx", "onnx-int8", "openvino-int8"]
    assert instruction_skips(variants, AMX, AMX_PEAK) == []


def test_bf16_is_timed_on_a_cpu_only_where_it_has_amx():
    (skip,) = instruction_skips(["bf16"], ["avx512_bf16", "avx512_vnni"], AMX_PEAK)
    assert skip["reason"] == (
        "AVX-512 BF16 without AMX, where torch bf16 ran 3-5x slower than fp32 (probe: bf16 168 GFLOP/s, fp32 335 GFLOP/s)"
    )


def test_int8_is_kept_with_vnni_whatever_the_probe_and_without_flags_where_its_int8_matmuls_beat_fp32():
    assert instruction_skips(["int8"], ["avx512_vnni"], {"fp32": 335.0, "int8": None}) == []
    # the flags come from x86 Linux's /proc/cpuinfo: elsewhere the list is empty and the probe decides
    assert instruction_skips(["onnx-int8"], [], {"fp32": 100.0, "int8": 250.0}) == []
    (skip,) = instruction_skips(["onnx-int8"], [], {"fp32": 100.0, "int8": None})
    assert skip["reason"] == "no VNNI/AMX int8 instructions (probe: int8 not measurable, fp32 100 GFLOP/s)"


def test_variants_the_user_names_run_as_asked_whatever_the_cpu():
    asked = BenchConfig(variants=["bf16", "onnx-int8"])
    assert default_subjects("transformer", "cpu", asked, AVX2_ONLY, AVX2_PEAK) == (["bf16", "onnx-int8"], [])
    assert default_subjects("crf", "cpu", BenchConfig(), AVX2_ONLY, AVX2_PEAK) == (["crf"], [])


def test_openvino_int8_is_timed_by_default_only_where_openvino_is_installed(monkeypatch, caplog):
    import sys

    pytest.importorskip("openvino")
    assert default_subjects("transformer", "cpu", BenchConfig(), AMX, AMX_PEAK)[0][-1] == "openvino-int8"
    monkeypatch.setitem(sys.modules, "openvino", None)  # what importlib sees when it is not installed
    with caplog.at_level("INFO", logger="pipeline.serving.bench_variants"):
        variants, skipped = default_subjects("transformer", "cpu", BenchConfig(), AMX, AMX_PEAK)
    assert variants == ["fp32", "bf16", "int8", "onnx", "onnx-int8"]
    assert skipped == [{"variant": "openvino-int8", "reason": "the openvino package is not installed"}]
    assert "openvino-int8 skipped (the openvino package is not installed)" in caplog.text


def test_the_console_table_lists_what_bench_skipped_on_this_machine_with_why():
    row = {
        "label": "fp32",
        "batch_size": 1,
        "docs_per_second": 3.1,
        "docs_per_second_min": 3.0,
        "docs_per_second_max": 3.2,
        "peak_memory_mb": 650.0,
    }
    _, skipped = default_subjects("transformer", "cpu", BenchConfig(), AVX2_ONLY, AVX2_PEAK)
    bench = {
        "variants": [row],
        "reference": None,
        "peak": AVX2_PEAK,
        "skipped": skipped,
        "summary": {"chosen": {"label": "fp32"}},
        "estimate": [],
        "threads": 2,
        "machine": {"cpu": "AMD EPYC 7B13 64-Core Processor", "vector": "AVX2", "cores": 2, "gpu": None},
    }
    lines = format_bench(bench).splitlines()
    assert "machine: AMD EPYC 7B13 64-Core Processor (AVX2, 2 cores), 2 threads" in lines
    assert "skipped: int8: no VNNI/AMX int8 instructions (probe: int8 1.6 GOP/s, fp32 62 GFLOP/s)" in lines
    assert sum(line.startswith("skipped: ") for line in lines) == 3  # bf16, int8, openvino-int8


def test_ten_thousand_notes_take_notes_times_mean_length_over_words_per_second():
    rows = [
        {"label": "int8", "device": "cpu", "batch_size": 1, "words_per_second": 800.0},
        {"label": "int8", "device": "cpu", "batch_size": 8, "words_per_second": 1000.0},
    ]
    (estimate,) = estimates(rows, mean_words=720.0, config=BenchConfig(cpu_price_per_hour=0.10))
    # 10,000 x 720 / 1,000 = 7,200 s = 2 h at the faster batch size; 2 h x $0.10 = $0.20
    assert (estimate["batch_size"], estimate["hours"], estimate["cost"]) == (8, 2.0, 0.2)


def test_reference_entities_map_to_words_by_character_overlap():
    # "Chest pain and fever fever": words at 0-5, 6-10, 11-14, 15-20, 21-26
    offsets = [(0, 5), (6, 10), (11, 14), (15, 20), (21, 26)]
    entities = [
        {"start": 0, "end": 10, "entity_group": "Sign_symptom"},
        {"start": 16, "end": 20, "entity_group": "Sign_symptom"},  # starts inside "fever"
        {"start": 21, "end": 26, "entity_group": "Sign_symptom"},
    ]  # a separate, adjacent entity
    assert reference_tags(entities, offsets) == [
        "B-Sign_symptom",
        "I-Sign_symptom",
        "O",
        "B-Sign_symptom",
        "B-Sign_symptom",
    ]


# --- predict runs what bench chose ------------------------------------------------------------------


def test_predict_runs_the_variant_and_windows_bench_chose_unless_told_otherwise(tmp_path):
    run_dir = tmp_path / "minilm-x"
    chosen = {"label": "onnx-int8 512/32", "variant": "onnx-int8", "max_length": 512, "overlap": 32, "batch_size": 16}
    write_record(
        run_dir / "bench.json", "bench", {"run": "minilm-x", "kind": "transformer", "summary": {"chosen": chosen}}
    )
    assert chosen_inference(run_dir, PredictConfig()) == ("onnx-int8", (512, 32), 16, True)
    assert chosen_inference(run_dir, PredictConfig(variant="fp32")) == ("fp32", None, 8, False)
    assert chosen_inference(run_dir, PredictConfig(int8=True)) == ("int8", None, 8, False)
    assert chosen_inference(tmp_path / "never-benched", PredictConfig()) == ("fp32", None, 8, False)


def test_a_student_runs_as_predict_runs_it_and_must_share_the_split_and_tags(tmp_path, crf_run):
    from conftest import make_model_run

    teacher = make_model_run(tmp_path / "teacher")
    student = make_model_run(tmp_path / "student", name=STUDENT, layers=1)
    assert student_subject(student, teacher, "cuda") == Subject("transformer", "fp32", "cuda", None, student=STUDENT)
    chosen = {"label": "openvino-int8 256/16", "variant": "openvino-int8", "max_length": 256, "overlap": 16}
    write_record(student / "bench.json", "bench", {"run": STUDENT, "summary": {"chosen": {**chosen, "batch_size": 8}}})
    subject = student_subject(student, teacher, "cuda")  # its own bench's choice, on the CPU where it runs
    assert (subject.variant, subject.device, subject.windows) == ("openvino-int8", "cpu", (256, 16))
    assert subject.label == f"{STUDENT}: openvino-int8 256/16"
    config = read_run_config(student)
    write_record(student / "config.json", "run_config", {**config, "tag2id": {"O": 0, "B-Age": 1, "I-Age": 2}})
    with pytest.raises(ConfigError, match=f"--students {STUDENT}: trained on another tag set than minilm-2026"):
        student_subject(student, teacher, "cpu")
    with pytest.raises(ConfigError, match="a student is a transformer run, not a crf run"):
        student_subject(crf_run, teacher, "cpu")


def test_only_a_transformer_run_is_benched_beside_students(crf_run):
    with pytest.raises(ConfigError, match="is a crf run: --students are timed beside a transformer run"):
        bench_run(crf_run, BenchConfig(students=["minilm-3layers"]), progress=False)


def test_the_console_says_how_fast_a_student_is_and_how_much_validation_f1_it_loses():
    ratio = {"median": 1.45, "min": 1.31, "max": 1.52}
    record = {
        "label": "minilm-3layers-20261206-042552: openvino-int8 256/16",
        "docs_per_second": 75.3,
        "batch_size": 8,
        "ratio_to_chosen": ratio,
        "ratio_to_reference": {"median": 4.6, "min": 4.4, "max": 4.9},
        "validation_micro_f1": 0.578,
        "validation_points": -1.2,
        "within_tolerance": False,
    }
    assert student_sentence(record, 1.0) == (
        "student minilm-3layers-20261206-042552: openvino-int8 256/16: 75.3 docs/s at batch 8, 1.45x the chosen "
        "subject (1.31-1.52), 4.60x the reference (4.40-4.90); validation F1 0.578, -1.2 points against this run's "
        "fp32: outside the 1-point tolerance"
    )


def test_predict_takes_the_batch_size_bench_chose_with_its_variant_unless_one_is_given(tmp_path):
    run_dir = tmp_path / "minilm-x"
    chosen = {"label": "int8", "variant": "int8", "max_length": None, "overlap": None, "batch_size": 32}
    write_record(run_dir / "bench.json", "bench", {"kind": "transformer", "summary": {"chosen": chosen}})
    assert chosen_inference(run_dir, PredictConfig()).batch_size == 32  # bench's, with bench's variant
    assert chosen_inference(run_dir, PredictConfig(batch_size=4)).batch_size == 4  # the flag wins
    assert chosen_inference(run_dir, PredictConfig(variant="int8")).batch_size == 8  # not bench's choice: default
    with pytest.raises(ConfigError, match=r"--batch-size -1 is out of range: allowed >= 0"):
        PredictConfig(batch_size=-1)


def test_a_combined_run_runs_the_variant_bench_chose_for_its_transformer_part(tmp_path, caplog):
    from fixtures import make_fixture_combined_run, make_fixture_run

    transformer = make_fixture_run(tmp_path, "minilm-x")
    crf = make_fixture_run(tmp_path, "crf-x", model="crf")
    combined = make_fixture_combined_run(tmp_path, "combined-x", transformer, crf, seed=3)
    with caplog.at_level("INFO", logger="pipeline.serving.predict"):
        assert chosen_inference(combined, PredictConfig()) == ("fp32", None, 8, False)
    assert "combined-x: no variant chosen by bench for minilm-x" in caplog.text  # its transformer has no bench
    chosen = {"label": "openvino-int8 256/16", "variant": "openvino-int8", "max_length": 256, "overlap": 16}
    summary = {"chosen": {**chosen, "batch_size": 16}}
    write_record(transformer / "bench.json", "bench", {"kind": "transformer", "summary": summary})
    write_record(combined / "bench.json", "bench", {"kind": "combined", "summary": {"chosen": {"variant": "fp32"}}})
    assert chosen_inference(combined, PredictConfig()) == ("openvino-int8", (256, 16), 16, True)
    assert chosen_inference(combined, PredictConfig(variant="int8")) == ("int8", None, 8, False)  # the flag wins


# --- worker processes ------------------------------------------------------------------------------


def test_a_workers_peak_memory_is_its_own_process_not_the_coordinators(tiny_run):
    ballast = np.ones(1500 * 2**20 // 8)  # 1.5 GB held by this (the coordinator's) process
    assert psutil.Process().memory_info().rss / 2**20 > 1500
    worker = Worker(Subject("transformer", "fp32", "cpu"), tiny_run, BenchConfig(sample_docs=2), threads=1)
    try:
        peak = worker.call({"op": "memory"})["peak_memory_mb"]
    finally:
        worker.close()
    assert 50 < peak < 1500, peak  # torch and a 2-layer model, none of the ballast
    del ballast


def test_a_failing_worker_raises_with_its_subject_and_error(tiny_run):
    with pytest.raises(BenchError, match=r"nope.*ConfigError: unknown inference variant"):
        Worker(Subject("transformer", "nope", "cpu"), tiny_run, BenchConfig(), threads=1)


@pytest.fixture(scope="module")
def crf_run(tmp_path_factory):
    """A fixture CRF run with a real CRF fitted on its own test documents."""
    import sklearn_crfsuite
    from fixtures import make_fixture_run

    from pipeline.core.layout import read_run_config, write_tags
    from pipeline.modeling.crf import document_features, save_crf

    run_dir = make_fixture_run(tmp_path_factory.mktemp("crf"), "crf-20261129-000000", model="crf")
    rows = read_predictions(run_dir, "test")
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", max_iterations=5)
    crf.fit([document_features(r["words"]) for r in rows], [r["gold"] for r in rows])
    save_crf(crf, run_dir / "model" / "crf.pkl")  # and its tag map, as train_crf writes a CRF run's model/
    write_tags(run_dir / "model" / "tags.json", read_run_config(run_dir)["tag2id"])
    return run_dir


def test_every_timed_pass_starts_from_the_word_cache_the_validation_notes_left(crf_run):
    from pipeline.serving.bench_worker import Subject as Loaded

    subject = Loaded({"kind": "crf", "run": str(crf_run), "variant": "crf", "device": "cpu", "sample_docs": 3})
    cache = subject.runner.word_cache
    validation = {word for row in read_predictions(crf_run, "validation") for word in row["words"]}
    assert set(subject.cache_start[0]) == validation
    sample = {word for words in subject.sample for word in words}
    assert sample - validation  # the sample brings words of its own
    subject.time([1])  # they join the cache ...
    assert set(cache.slots) == validation | sample
    subject.start_pass()  # ... and are forgotten before the next pass
    assert set(cache.slots) == validation


def test_a_time_budget_cuts_the_documents_of_each_block_and_keeps_every_round():
    from pipeline.serving.bench_pool import budget_documents, round_seconds

    warm = {"fp32": 10.0, "int8": 20.0, "pipeline": 5.0}
    assert round_seconds(warm, ["fp32", "int8"], "pipeline") == 40.0  # each block after a reference block
    assert budget_documents(warm, ["fp32", "int8"], "pipeline", 20, BenchConfig(rounds=3, time_budget=60)) == 10
    assert budget_documents(warm, ["fp32", "int8"], None, 20, BenchConfig(rounds=3, time_budget=60)) == 13
    assert budget_documents(warm, ["fp32", "int8"], "pipeline", 20, BenchConfig(rounds=3, time_budget=120)) == 20
    assert budget_documents(warm, ["fp32", "int8"], "pipeline", 20, BenchConfig(rounds=3, time_budget=0)) == 20
    assert budget_documents(warm, ["fp32", "int8"], "pipeline", 20, BenchConfig(rounds=3, time_budget=1)) == 5
    assert budget_documents(warm, ["fp32", "int8"], "pipeline", 3, BenchConfig(rounds=3, time_budget=1)) == 3


def test_a_bench_over_its_time_budget_times_fewer_documents_and_says_so(crf_run):
    config = BenchConfig(rounds=3, sample_docs=8, time_budget=1e-6, figure=False)
    result = read_json(bench_run(crf_run, config, progress=False))
    sampled = min(8, len(read_predictions(crf_run, "test")))
    assert sampled > 5
    timing = result["timing"]
    assert (timing["sampled_documents"], timing["timed_documents"], timing["rounds"]) == (sampled, 5, 3)
    assert timing["round_seconds_estimate"] == pytest.approx(timing["warm_up_seconds"]["crf"])
    assert result["sample"]["documents"] == 5
    words = sum(len(r["words"]) for r in read_predictions(crf_run, "test")[:5])
    (crf,) = result["variants"]
    assert crf["words_per_second"] / crf["docs_per_second"] == pytest.approx(words / 5, rel=1e-3)
    from pipeline.reporting import facts
    from pipeline.reporting.inputs import RunInputs
    from pipeline.serving.bench_console import format_bench

    said = f"imed on 5 test documents per block in 3 interleaved rounds, cut from {sampled} so that the rounds fit"
    assert f"t{said} the time budget of 1e-06 s" in format_bench(result)
    page = facts.machine_sentence(RunInputs("crf", crf_run, {"model": "crf"}, {}, None, result))
    assert page.startswith(f"T{said}")


def test_a_crf_run_gets_one_row_with_docs_per_second_latency_and_memory(crf_run):
    result = read_json(bench_run(crf_run, BenchConfig(rounds=2, figure=False), progress=False))
    (crf,) = result["variants"]
    assert (result["kind"], crf["label"], crf["batch_size"], result["reference"]) == ("crf", "crf", 1, None)
    assert crf["docs_per_second_min"] <= crf["docs_per_second"] <= crf["docs_per_second_max"]
    assert crf["latency_ms_median"] > 0 and crf["peak_memory_mb"] > 0
    assert crf["positions_per_wordpiece"] is None and crf["ratio_to_reference"] is None
    test = read_predictions(crf_run, "test")
    from pipeline.modeling.crf import load_crf, predict_crf

    expected = strict_scores(
        [r["gold"] for r in test],
        [tags for tags, _ in predict_crf(load_crf(crf_run / "model" / "crf.pkl"), [r["words"] for r in test])],
    )["micro"]["f1"]
    assert crf["test_micro_f1"] == pytest.approx(expected, abs=1e-4)
    assert result["summary"]["chosen"]["variant"] == "crf"
    assert result["machine"] == machine()  # every speed figure names the machine it was timed on


# --- end to end on a tiny model ---------------------------------------------------------------------


STUDENT = "minilm-1layers-20260101-000000"  # a lighter run of the same split and tags


@pytest.fixture(scope="module")
def bench(tiny_run, tmp_path_factory):
    from conftest import make_model_run, run_in_outputs

    run_dir = run_in_outputs(tmp_path_factory.mktemp("bench"), tiny_run)  # openvino-int8 calibrates on its data
    student = make_model_run(run_dir.parent, name=STUDENT, layers=1)  # no bench of its own: predict runs it in fp32
    config = BenchConfig(rounds=2, sample_docs=4, windows=["32/4", "9999/4"], students=[str(student)])  # 9999: too long
    return run_dir, read_json(bench_run(run_dir, config, progress=False))


@pytest.mark.slow
def test_every_subject_is_timed_at_the_same_batch_sizes_as_the_reference(bench):
    run_dir, result = bench
    subjects = {(r["label"], r["batch_size"]) for r in result["variants"]}
    reference = {r["batch_size"] for r in result["reference"]["rows"]}
    assert reference == {1, 8, 16}
    assert {b for _, b in subjects} == reference
    for r in result["variants"]:
        assert r["docs_per_second_min"] <= r["docs_per_second"] <= r["docs_per_second_max"]
        ratio = r["ratio_to_reference"]
        assert ratio["min"] <= ratio["median"] <= ratio["max"]
        assert r["positions_per_wordpiece"] >= 1.0 and r["gflops_per_second"] > 0
        assert (r["latency_ms_median"] is not None) == (r["batch_size"] == 1)
    assert result["peak"]["fp32"] > 0 and (run_dir / "bench.png").stat().st_size > 0


@pytest.mark.slow
def test_a_student_is_timed_in_the_same_rounds_and_set_against_this_runs_fp32_on_validation(bench):
    run_dir, result = bench
    (student,) = result["students"]
    assert (student["run"], student["label"], student["variant"]) == (STUDENT, f"{STUDENT}: fp32", "fp32")
    assert {row["batch_size"] for row in student["rows"]} == {1, 8, 16}  # the reference's batch sizes
    assert all(row["ratio_to_reference"] for row in student["rows"])  # paired with the reference block before it
    best = max(student["rows"], key=lambda row: row["docs_per_second"])
    assert (student["batch_size"], student["docs_per_second"]) == (best["batch_size"], best["docs_per_second"])
    fp32 = next(row for row in result["variants"] if row["label"] == "fp32")
    points = 100 * (student["validation_micro_f1"] - fp32["validation_micro_f1"])
    assert student["validation_points"] == pytest.approx(points, abs=0.01)
    assert student["within_tolerance"] == (points >= -1.0)
    over = student["ratio_to_chosen"]
    assert over["min"] <= over["median"] <= over["max"] and over["batch_size"] == student["batch_size"]
    test = read_predictions(run_dir.parent / STUDENT, "test")  # scored with its own model on the same documents
    predicted = load_inference(run_dir.parent / STUDENT, "fp32").predict([r["words"] for r in test], 8)
    expected = strict_scores([r["gold"] for r in test], [tags for tags, _ in predicted])["micro"]["f1"]
    assert student["test_micro_f1"] == pytest.approx(expected, abs=1e-4)
    assert result["summary"]["lighter"] == lighter_choice(result["students"])


@pytest.mark.slow
def test_windows_are_chosen_on_validation_among_those_the_model_allows(bench):
    _, result = bench
    options = [(o["max_length"], o["overlap"]) for o in result["windows"]]
    assert options == [(24, 6), (32, 4)]  # the run's own first; 9999 exceeds 512 positions
    (chosen,) = [o for o in result["windows"] if o["chosen"]]
    assert result["summary"]["chosen"]["max_length"] == chosen["max_length"]


@pytest.mark.slow
def test_the_reference_counts_truncation_over_test_documents_only(bench):
    run_dir, result = bench
    reference = result["reference"]
    assert reference["test_documents"] == len(read_predictions(run_dir, "test"))
    assert reference["truncated_documents"] == 0  # fixture notes are short


@pytest.mark.slow
def test_a_variants_f1_is_the_strict_score_of_its_own_predictions(bench):
    run_dir, result = bench
    test = read_predictions(run_dir, "test")
    predicted = load_inference(run_dir, "onnx").predict([r["words"] for r in test], 8)
    expected = strict_scores([r["gold"] for r in test], [tags for tags, _ in predicted])["micro"]["f1"]
    onnx = next(r for r in result["variants"] if r["variant"] == "onnx")
    if onnx["max_length"] == 24:  # scored with the run's windows only when those were chosen
        assert onnx["test_micro_f1"] == pytest.approx(expected, abs=1e-4)
    summary = result["summary"]
    assert summary["ratio_best"]["min"] <= summary["best_ratio_to_reference"] <= summary["ratio_best"]["max"]


def test_the_bench_figure_has_a_bar_per_subject_and_batch_with_the_reference_apart(tmp_path):
    from matplotlib.colors import to_hex

    from pipeline.serving.figures import REFERENCE_COLOUR, SUBJECT_COLOUR, bench_speed, write_bench_figure

    def row(label: str, batch: int, speed: float) -> dict:
        return {"label": label, "batch_size": batch, "docs_per_second": speed, "docs_per_second_min": speed - 1}

    bench = {
        "run": "minilm-20260101-000000",
        "device": "cpu",
        "threads": 2,
        "config": {"rounds": 3},
        "variants": [
            {**row("fp32", 1, 4.0), "docs_per_second_max": 5.0, "test_micro_f1": 0.6},
            {**row("int8", 8, 9.0), "docs_per_second_max": 9.5, "test_micro_f1": 0.59},
        ],
        "reference": {
            "test_micro_f1": 0.58,
            "rows": [{**row("transformers pipeline", 8, 2.0), "docs_per_second_max": 2}],
        },
    }
    path = write_bench_figure(bench, tmp_path / "bench.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bars = bench_speed(bench).axes[0].patches
    assert [round(bar.get_height(), 1) for bar in bars] == [4.0, 9.0, 2.0]
    assert [to_hex(bar.get_facecolor()) for bar in bars] == [SUBJECT_COLOUR, SUBJECT_COLOUR, REFERENCE_COLOUR]
