"""The report's sections for training curves, entity length, match rates, patterns, high-value types, cost,
memory and CPU against GPU: figures and tables from hand-made records, numbers checked."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fixtures import FIXTURE_EPOCHS

from pipeline.reporting import facts
from pipeline.reporting.figures import all_training_curves, length_figure, speed_accuracy_figure, training_curves
from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.tables.compare import selection_table
from pipeline.reporting.tables.errors import boundary_length_table, match_rates_table
from pipeline.reporting.tables.production import (
    high_risk_table,
    high_value_table,
    policy_overview_table,
    policy_types_table,
)
from pipeline.reporting.tables.speed import (
    estimate_table,
    latency_table,
    memory_table,
    speed_accuracy_table,
    windows_table,
)
from pipeline.serving.bench_summary import cpu_vs_gpu


def run_inputs(folder: Path, bench: dict | None = None, analysis: dict | None = None) -> RunInputs:
    metrics = {"test": {}, "epochs": FIXTURE_EPOCHS, "peak_memory_mb": 900.0, "peak_memory_kind": "cpu_peak_rss"}
    metrics["parameters"] = 22_000_000
    return RunInputs(folder.name, folder, {"model": "minilm"}, metrics, analysis, bench)  # type: ignore[arg-type]


def test_training_curves_mark_the_kept_epoch_and_the_early_stop():
    figure = training_curves(FIXTURE_EPOCHS, "minilm", planned=6, patience=2)
    loss, f1 = figure.axes
    assert loss.get_title() == (
        "minilm: loss and validation F1 per epoch; kept epoch 2 (best micro), early stopping after epoch 4 of 6 "
        "(patience 2)"
    )
    train, validation, kept = loss.get_lines()
    assert list(train.get_ydata()) == [2.0, 1.0, 0.6, 0.4] and list(validation.get_ydata()) == [1.2, 0.9, 1.0, 1.1]
    assert list(kept.get_xdata()) == [2, 2]
    assert list(f1.get_lines()[0].get_ydata()) == [0.40, 0.55, 0.54, 0.55]


def test_a_run_that_used_every_planned_epoch_says_so():
    title = training_curves(FIXTURE_EPOCHS, "minilm", planned=4, patience=2).axes[0].get_title()
    assert title.endswith("kept epoch 2 (best micro), all 4 epochs run")


def test_training_curves_draw_macro_and_tier_f1_and_keep_the_epoch_of_the_selection_metric():
    epochs = [
        {**row, "val_macro_f1": macro, "val_rare_f1": rare}
        for row, macro, rare in zip(FIXTURE_EPOCHS, [0.1, 0.2, 0.3, 0.25], [0.0, 0.1, 0.2, 0.15], strict=True)
    ]
    figure = training_curves(epochs, "minilm", planned=4, patience=2, select_on="macro")
    lines = {line.get_label(): list(line.get_ydata()) for line in figure.axes[1].get_lines()}
    assert lines["macro-F1"] == [0.1, 0.2, 0.3, 0.25] and lines["rare tier micro-F1"] == [0.0, 0.1, 0.2, 0.15]
    assert "frequent tier micro-F1" not in lines  # not recorded: not drawn
    assert lines["kept: epoch 3"] == [0, 1]  # the dashed line at macro's best epoch, not micro's


def test_all_curves_star_the_kept_epoch_of_every_run():
    later = [{**row, "val_f1": row["val_f1"] + 0.01 * row["epoch"]} for row in FIXTURE_EPOCHS]  # best: epoch 4
    figure = all_training_curves([("minilm", FIXTURE_EPOCHS, "micro"), ("bert", later, "micro")])
    stars = [line for line in figure.axes[1].get_lines() if line.get_marker() == "*"]
    assert [(list(s.get_xdata()), list(s.get_ydata())) for s in stars] == [([2], [0.55]), ([4], [pytest.approx(0.59)])]
    assert [text.get_text() for text in figure.axes[1].get_legend().get_texts()] == ["minilm", "bert"]


BY_LENGTH = [
    {"length": "1", "f1": 0.6},
    {"length": "2", "f1": 0.5},
    {"length": "3-4", "f1": 0.4},
    {"length": "5+", "f1": 0.3},
]
BUCKETS = [
    {"length": "1", "gold": 10, "boundary_errors": 1, "rate": 0.1, "ci": [0.0179, 0.4042]},
    {"length": "2", "gold": 0, "boundary_errors": 0, "rate": None, "ci": [0.0, 1.0]},
    {"length": "3-4", "gold": 0, "boundary_errors": 0, "rate": None, "ci": [0.0, 1.0]},
    {"length": "5+", "gold": 10, "boundary_errors": 6, "rate": 0.6, "ci": [0.3127, 0.8318]},
]


def test_length_figure_draws_f1_per_length_and_boundary_rates_of_the_measured_lengths():
    f1, rate = length_figure(BY_LENGTH, BUCKETS, "minilm").axes
    assert [bar.get_height() for bar in f1.patches] == [0.6, 0.5, 0.4, 0.3]
    assert [bar.get_height() for bar in rate.patches] == [0.1, 0.6]  # empty buckets have no rate to draw
    assert [label.get_text() for label in rate.get_xticklabels()] == ["1", "5+"]


def test_length_figure_draws_a_bucket_without_boundary_errors_whose_rounded_interval_starts_above_zero():
    # BC2GM's brat sample: no 5+-word entity got a boundary error; rounding put the interval's end past 0
    zero = [*BUCKETS[:3], {"length": "5+", "gold": 7, "boundary_errors": 0, "rate": 0.0, "ci": [1e-17, 0.3543]}]
    rate = length_figure(BY_LENGTH, zero, "crf").axes[1]
    assert [bar.get_height() for bar in rate.patches] == [0.1, 0.0]


def test_boundary_length_table_shows_counts_and_intervals(tmp_path):
    run = run_inputs(tmp_path, analysis={"errors": {"boundary_by_length": {"buckets": BUCKETS}}})
    table = boundary_length_table(run)
    assert list(table["rate [95% CI]"]) == ["0.100 [0.018, 0.404]", "–", "–", "0.600 [0.313, 0.832]"]
    assert list(table["boundary errors"]) == [1, 0, 0, 6]


def test_match_rates_table_counts_exact_and_same_type_overlaps(tmp_path):
    counts = {"exact": 6, "boundary_under": 1, "boundary_over": 1, "boundary_shifted": 0, "boundary_and_type": 1}
    errors = {"counts": counts, "gold_spans": 10, "exact_match_rate": 0.6, "partial_match_rate": 0.8}
    table = match_rates_table(run_inputs(tmp_path, analysis={"errors": errors}))
    assert list(table["rate"]) == [0.6, 0.8, 1.0] and list(table["gold spans"]) == [6, 8, 10]


def test_memory_table_sets_training_memory_and_model_size_beside_inference_memory(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"\0" * 2**20 * 3)
    bench = {
        "variants": [
            {"variant": "fp32", "device": "cpu", "batch_size": 1, "peak_memory_mb": 700.0},
            {"variant": "fp32", "device": "cpu", "batch_size": 8, "peak_memory_mb": 750.0},
            {"variant": "int8", "device": "cpu", "batch_size": 1, "peak_memory_mb": 400.0},
        ]
    }
    table = memory_table(run_inputs(tmp_path, bench=bench)).set_index("measure")["value"]
    assert table["training peak memory (MB, cpu_peak_rss)"] == "900.0"
    assert table["model size on disk (MB)"] == "3.0"
    assert table["parameters"] == "22,000,000"
    assert table["inference peak memory, fp32 on cpu (MB, largest batch)"] == "750.0"  # the larger batch's peak
    assert table["inference peak memory, int8 on cpu (MB, largest batch)"] == "400.0"


def latency_row(label: str, device: str, latency: float) -> dict:
    """A batch-1 bench.json row (the fields `cpu_vs_gpu` reads)."""
    return {"label": label, "variant": label, "device": device, "batch_size": 1, "latency_ms_median": latency}


def test_the_cpu_against_gpu_table_shows_the_slowdown_bench_computed(tmp_path):
    rows = [latency_row("fp32", "cuda:0", 10.0), latency_row("fp16", "cuda:0", 6.0)]
    rows += [latency_row("fp32 (CPU)", "cpu", 90.0), latency_row("int8 (CPU)", "cpu", 45.0)]
    bench = {"device": "NVIDIA H200", "variants": rows, "summary": {"cpu_vs_gpu": cpu_vs_gpu(rows)}}
    run = run_inputs(tmp_path, bench=bench)
    slowdown = {(row["CPU variant"], row["GPU variant"]): row["slowdown"] for row in facts.latency_rows(run)}
    assert slowdown == {("fp32 (CPU)", "fp16"): 15.0, ("int8 (CPU)", "fp16"): 7.5}  # over the fastest GPU row
    assert facts.cpu_gpu(run).endswith("over that of fp16 on the GPU (2 CPU rows).")


def test_the_report_takes_the_slowdown_from_bench_json_not_from_the_rows(tmp_path):
    rows = [latency_row("fp32", "cuda:0", 10.0), latency_row("fp32 (CPU)", "cpu", 90.0)]
    pair = {"variant": "fp32 (CPU)", "gpu_variant": "fp32", "cpu_latency_ms": 90.0, "gpu_latency_ms": 10.0}
    run = run_inputs(
        tmp_path,
        bench={"device": "NVIDIA H200", "variants": rows, "summary": {"cpu_vs_gpu": [{**pair, "slowdown": 8.5}]}},
    )
    assert [row["slowdown"] for row in facts.latency_rows(run)] == [8.5]  # bench's value, whatever the rows say


@pytest.mark.parametrize("summary", [{"cpu_vs_gpu": None}, {}], ids=["null", "absent"])
def test_a_cpu_only_bench_has_no_latency_pairs_and_says_the_gpu_rows_need_a_gpu(tmp_path, summary):
    rows = [latency_row("fp32", "cpu", 90.0)]
    assert cpu_vs_gpu(rows) is None  # what bench writes on a CPU-only machine
    run = run_inputs(tmp_path, bench={"device": "cpu", "variants": rows, "summary": summary})
    assert facts.latency_rows(run) == [] and latency_table(run).empty
    assert facts.cpu_gpu(run).startswith("This benchmark ran on cpu only: the GPU rows")


def test_the_front_holds_the_points_nothing_else_is_both_faster_and_more_accurate_than():
    points = [(10.0, 0.60), (20.0, 0.55), (5.0, 0.62), (8.0, 0.58), (20.0, 0.55), (5.0, 0.60)]
    assert facts.pareto_front(points) == [True, True, True, False, True, False]


def speed_row(label: str, batch: int, docs: float, f1: float | None) -> dict:
    return {"label": label, "batch_size": batch, "docs_per_second": docs, "validation_micro_f1": f1}


def test_speed_against_accuracy_takes_each_subjects_best_batch_across_runs(tmp_path):
    minilm = run_inputs(
        tmp_path / "minilm",
        {
            "variants": [
                speed_row("fp32", 1, 10.0, 0.59),
                speed_row("fp32", 16, 14.0, 0.59),
                speed_row("bf16", 16, 40.0, 0.58),
            ],
            "machine": {"cpu": "Intel(R) Xeon(R) Processor", "vector": "AMX", "cores": 2, "gpu": None},
        },
    )
    student = run_inputs(
        tmp_path / "student", {"variants": [speed_row("bf16", 16, 70.0, 0.55), speed_row("int8", 8, 30.0, None)]}
    )
    crf = run_inputs(tmp_path / "crf", None)
    table = speed_accuracy_table([minilm, student, crf])
    assert table[["run", "subject", "batch", "docs/s (median)", "validation F1", "on the front"]].values.tolist() == [
        [student.label, "bf16", 16, 70.0, 0.55, "yes"],  # the int8 row has no validation F1: not placed
        [minilm.label, "bf16", 16, 40.0, 0.58, "yes"],
        [minilm.label, "fp32", 16, 14.0, 0.59, "yes"],
    ]
    xeon, older = "Intel(R) Xeon(R) Processor (AMX, 2 cores)", "an unrecorded machine"
    assert list(table["timed on"]) == [older, xeon, xeon]  # each bench's own machine: runs may be timed apart
    assert speed_accuracy_table([crf])["to add it, run"][0] == "python -m pipeline bench --run RUN"
    picture = speed_accuracy_figure([minilm, student, crf])
    assert picture.alt.startswith("Speed against accuracy") and picture.data.startswith(b"\x89PNG")


def test_a_runs_own_speed_accuracy_view_adds_the_students_timed_in_its_rounds(tmp_path):
    timed = speed_row("minilm-3layers-x: int8", 8, 75.0, 0.578)
    bench = {
        "variants": [speed_row("bf16", 16, 48.0, 0.59)],
        "students": [{"run": "minilm-3layers-x", "rows": [timed]}],
    }
    minilm = run_inputs(tmp_path / "minilm", bench)
    assert speed_accuracy_table([minilm])["subject"].tolist() == ["bf16"]  # the comparison: each run's own bench
    table = speed_accuracy_table([minilm], students=True)
    assert table[["run", "subject", "docs/s (median)", "on the front"]].values.tolist() == [
        ["minilm-3layers-x", "minilm-3layers-x: int8", 75.0, "yes"],
        [minilm.label, "bf16", 48.0, "yes"],
    ]


def test_estimate_and_high_value_tables_say_which_command_fills_them(tmp_path):
    run = run_inputs(tmp_path)
    assert estimate_table(run)["to add it, run"][0] == f"python -m pipeline bench --run {tmp_path.name}"
    assert high_value_table(run)["not measured"][0] == "high-value types"


def test_the_machine_sentence_gives_the_cpus_peak_and_on_a_gpu_machine_the_gpus_beside_it(tmp_path):
    bench = {"variants": [{}], "threads": 16, "device": "NVIDIA H200", "peak": {"fp32": 1049.1, "int8": 8855.1}}
    cpu_only = facts.machine_sentence(run_inputs(tmp_path, bench))
    assert "fp32 1049 GFLOP/s, int8 8855 GOP/s" in cpu_only and "GPU" not in cpu_only
    gpu = facts.machine_sentence(run_inputs(tmp_path, {**bench, "gpu_peak": {"fp32": 50725.0, "fp16": 746940.7}}))
    assert "of its GPU (NVIDIA H200, 8192x8192 matmuls): fp32 50725 GFLOP/s, fp16 746941 GFLOP/s" in gpu


def test_the_windows_table_shows_each_candidates_validation_f1_and_cost_and_the_choice(tmp_path):
    from report_fixtures import bench_json

    table = windows_table(run_inputs(tmp_path, bench_json(10.0)))
    assert table.to_dict("records") == [
        {
            "windows (length/overlap)": "256/64",
            "the run's own": "yes",
            "validation F1 (fp32)": 0.5884,
            "positions / wordpiece": 1.259,
            "MFLOP / wordpiece": 27.3,
            "chosen": "",
        },
        {
            "windows (length/overlap)": "192/16",
            "the run's own": "",
            "validation F1 (fp32)": 0.5877,
            "positions / wordpiece": 1.092,
            "MFLOP / wordpiece": 22.9,
            "chosen": "yes",
        },
    ]
    assert windows_table(run_inputs(tmp_path)).empty  # no bench: the page shows no windows table


def candidate_row(run: str, f1: float, docs_per_second: float | None, memory: float | None, split: str = "document"):
    """compare's model row as the selection reads it: validation scores and the variant bench chose."""
    bench = {"label": "int8", "batch_size": 8, "docs_per_second": docs_per_second, "peak_memory_mb": memory}
    speed = None if docs_per_second is None else bench
    scores = {"micro": {"f1": f1, "precision": f1}, "micro_f1_ci": [f1 - 0.03, f1 + 0.03]}
    return {"run": run, "split_strategy": split, "selection": scores, "speed": speed}


def test_the_selection_table_shows_each_requirement_value_and_verdict_the_credibility_and_the_choice(tmp_path):
    from pipeline.config import CompareConfig
    from pipeline.evaluation.selection import requirements, select

    models = [
        candidate_row("large", 0.80, 3.0, 6144.0),  # the most accurate, over the 4,096 MB allowed
        candidate_row("crf", 0.70, None, None),  # no bench.json
        candidate_row("minilm", 0.62, 9.0, 400.0),
        candidate_row("tiny", 0.60, 12.0, 300.0),
        candidate_row("leaky", 0.90, 20.0, 300.0, split="rows"),
    ]
    pairs = [{"a": "minilm", "b": "tiny", "p_a_better": 0.97, "p_b_better": 0.02}]
    chosen = select(models, pairs, requirements(CompareConfig()), 0.95)
    runs = [run_inputs(tmp_path / "minilm")]  # labelled by its model; the others by their run names
    table = selection_table(chosen, runs)
    assert list(table.columns) == [
        "model",
        "validation micro-F1 [95% CI]",
        "throughput, docs/s (at least 0.347)",
        "peak memory, MB (at most 4,096)",
        "variant (bench's choice)",
        "meets every requirement",
        "P(most accurate better), validation",
        "chosen",
    ]
    records = {row["model"]: row for row in table.to_dict("records")}
    assert records["large"]["peak memory, MB (at most 4,096)"] == "6144.0 (fails)"
    assert records["large"]["throughput, docs/s (at least 0.347)"] == "3.0 (meets)"
    assert records["large"]["meets every requirement"] == "no" and records["large"]["chosen"] == ""
    assert records["crf"]["throughput, docs/s (at least 0.347)"] == "not benchmarked"
    assert records["crf"]["variant (bench's choice)"] == "–" and records["crf"]["meets every requirement"] == "no"
    assert records["minilm"]["validation micro-F1 [95% CI]"] == "0.620 [0.590, 0.650]"
    assert records["minilm"]["P(most accurate better), validation"] == "most accurate"
    assert records["minilm"]["variant (bench's choice)"] == "int8, batch 8" and records["minilm"]["chosen"] == "yes"
    assert records["tiny"]["P(most accurate better), validation"] == "0.97 (credible)"
    assert records["leaky"]["meets every requirement"].startswith("not a candidate (row split")
    assert list(records) == ["large", "crf", "minilm", "tiny", "leaky"]  # validation F1 order, then the excluded


def policy_load(predicted: int, auto_coded: int, right: int, reviewed_per_note: float) -> dict:
    """A load as `pipeline.evaluation.policy.review_load` writes it, for 10,000 notes at 30 s a span."""
    return {
        "predicted": predicted,
        "auto_coded": auto_coded,
        "reviewed": predicted - auto_coded,
        "automation_rate": auto_coded / predicted if predicted else None,
        "precision": right / auto_coded if auto_coded else None,
        "auto_errors": auto_coded - right,
        "review_spans": reviewed_per_note * 10000,
        "coder_hours": reviewed_per_note * 10000 * 30 / 3600,
    }


def run_with_policy(folder: Path) -> RunInputs:
    """Age at its own 0.95, Sex at the pooled 0.8, Area always reviewed; its validation and test loads."""
    validation = {
        "Age": policy_load(20, 10, 10, 1.0),
        "Sex": policy_load(4, 4, 4, 0.0),
        "Area": policy_load(10, 0, 0, 1.0),
    }
    test = {"Age": policy_load(30, 12, 11, 1.8), "Sex": policy_load(5, 4, 4, 0.1), "Area": policy_load(8, 0, 0, 0.8)}
    entries = {
        "Age": {"threshold": 0.95, "source": "type", "reason": "the lowest threshold reaching ..."},
        "Sex": {"threshold": 0.8, "source": "pooled", "reason": "4 validation predictions, fewer than 20 ..."},
        "Area": {"threshold": None, "source": "type", "reason": "no threshold reaches ..."},
    }
    policy = {
        "settings": {"notes": 10000, "seconds_per_span": 30.0},
        "types": {name: {**entry, "validation": validation[name]} for name, entry in entries.items()},
        "always_review": ["Area"],
        "validation": policy_load(34, 14, 14, 2.0),
    }
    analysis = {
        "policy": {**policy_load(43, 16, 15, 2.7), "per_type": test},
        "readiness": {"fp_rate_by_type": [{"type": "Area", "fp_rate": 0.5}, {"type": "Age", "fp_rate": 0.2}]},
    }
    return dataclasses.replace(run_inputs(folder, analysis=analysis), policy=policy)


def test_the_policy_tables_set_the_test_result_beside_the_validation_estimate(tmp_path):
    run = run_with_policy(tmp_path)
    overview = policy_overview_table(run).set_index("measure")
    assert overview.loc["automation rate"].tolist() == ["0.412", "0.372"]  # 14 of 34; 16 of 43
    assert overview.loc["precision of auto-coded spans"].tolist() == ["1.000", "0.938"]  # 15 of 16
    assert overview.loc["spans to review (10,000 notes, 30 s a span)"].tolist() == ["20,000", "27,000"]
    assert overview.loc["coder hours (10,000 notes, 30 s a span)"].tolist() == ["166.7", "225.0"]
    per_type = policy_types_table(run).set_index("type")
    assert per_type["decision"].to_dict() == {
        "Age": "auto at 0.95",
        "Sex": "auto at 0.8 (pooled)",
        "Area": "always review",
    }
    assert per_type.loc["Age", ["validation precision", "test precision", "test coder hours"]].tolist() == [
        "1.000",
        "0.917",  # 11 of 12
        "150.0",  # 1.8 a note: 18,000 spans at 30 s
    ]
    assert per_type.loc["Area", "test precision"] == "–"  # nothing auto-coded
    risk = high_risk_table(run)
    assert risk["always reviewed (policy, validation)"].tolist() == [True, False]


def test_without_a_policy_the_tables_say_which_command_makes_it(tmp_path):
    run = run_inputs(tmp_path)
    assert policy_overview_table(run)["to add it, run"][0] == f"python -m pipeline analyze --run {tmp_path.name}"
    assert policy_types_table(run)["not measured"][0] == "deployment policy"


def test_a_student_bench_names_is_offered_where_speed_falls_short_with_its_test_cost_beside(tmp_path):
    ratio = {"median": 1.65, "min": 1.64, "max": 1.67}
    student = {
        "run": "minilm-3layers-x",
        "label": "minilm-3layers-x: openvino-int8 256/16",
        "batch_size": 8,
        "docs_per_second": 83.7,
        "validation_micro_f1": 0.582,
        "validation_points": -0.87,
        "within_tolerance": True,
        "test_micro_f1": 0.602,
        "ratio_to_chosen": ratio,
        "ratio_to_reference": None,
        "rows": [],
    }
    summary = {"chosen": {"label": "bf16 256/16"}, "test_micro_f1": {"bf16 256/16": 0.626}, "lighter": student}
    bench = {"students": [student], "summary": summary, "config": {"student_tolerance": 1.0}}
    assert facts.students_sentence(run_inputs(tmp_path / "minilm", bench)) == (
        "Timed in the same rounds, student minilm-3layers-x: openvino-int8 256/16: 83.7 docs/s at batch 8, 1.65x the "
        "chosen subject (1.64-1.67); validation F1 0.582, -0.9 points against this run's fp32: within the 1-point "
        "tolerance. Bench names minilm-3layers-x the lighter choice, to serve (`python -m pipeline predict --run "
        "minilm-3layers-x`) where minilm's speed falls short of a requirement; on test, reported once, it scores "
        "0.602 against 0.626 for bf16 256/16."
    )
    assert facts.students_sentence(run_inputs(tmp_path / "crf", {"variants": []})) == ""
