"""The Methods chapter and the appendix on hand-made records: each awkward case says what measures it."""

from __future__ import annotations

from pathlib import Path

from pipeline.reporting import methods, reproduce
from pipeline.reporting.inputs import RunInputs

EPOCHS = [{"epoch": n, "val_f1": f1} for n, f1 in ((1, 0.40), (2, 0.55), (3, 0.54))]


def run(name: str, train: dict, metrics: dict, bench: dict | None = None, config: dict | None = None) -> RunInputs:
    return RunInputs(name, Path(name), {"model": name, "train": train, **(config or {})}, metrics, None, bench)


def test_a_run_that_ran_to_its_limit_past_its_best_epoch_says_so():
    finished = run("minilm", {"epochs": 3}, {"epochs": EPOCHS})
    assert methods.stopping_sentence(finished) == (
        "minilm ran 3 epochs and kept epoch 2, its best by micro (validation micro-F1 0.550): it ran to its epoch "
        "limit of 3."
    )


def test_the_kept_epoch_is_the_first_with_the_best_validation_f1():
    tied = run("minilm", {"epochs": 5, "patience": 2}, {"epochs": [*EPOCHS, {"epoch": 4, "val_f1": 0.55}]})
    assert methods.stopping_sentence(tied).startswith("minilm ran 4 epochs and kept epoch 2, ")
    assert "early stopping ended it 2 epochs later, before its limit of 5" in methods.stopping_sentence(tied)


STOPPING_EPOCHS = [
    {"epoch": 1, "val_f1": 0.50, "val_macro_f1": 0.20, "val_mean_f1": 0.35, "val_rare_f1": 0.0},
    {"epoch": 2, "val_f1": 0.60, "val_macro_f1": 0.25, "val_mean_f1": 0.425, "val_rare_f1": 0.1},
    {"epoch": 3, "val_f1": 0.59, "val_macro_f1": 0.30, "val_mean_f1": 0.445, "val_rare_f1": 0.2},
    {"epoch": 4, "val_f1": 0.58, "val_macro_f1": 0.33, "val_mean_f1": 0.455, "val_rare_f1": 0.3},
]


def test_stopping_rules_are_replayed_on_the_recorded_epochs_and_unknown_past_them():
    stopped = run("minilm", {"epochs": 12, "patience": 2}, {"epochs": STOPPING_EPOCHS})  # stopped by micro, 2
    table = methods.stopping_rules_table([stopped]).set_index("rule (score, patience)")
    assert table.loc["micro, 2", "stops after epoch"] == 4 and table.loc["micro, 2", "kept epoch"] == 2
    assert table.loc["micro, 2", "validation macro-F1"] == 0.25 and table.loc["micro, 2", "the run's own rule"]
    assert table.loc["mean, 3", "stops after epoch"] == "past the recorded epochs"  # still improving at 4
    assert table.loc["micro, 3", "kept epoch"] == "–"


def test_a_run_recorded_with_micro_f1_only_replays_the_micro_rules():
    table = methods.stopping_rules_table([run("minilm", {"epochs": 3}, {"epochs": EPOCHS})])
    assert list(table["rule (score, patience)"]) == ["micro, 2", "micro, 3", "micro, 5"]


def test_without_a_transformer_run_the_table_says_what_records_it():
    table = methods.stopping_rules_table([run("crf", {}, {"epochs": []})])
    assert table.iloc[0, 0].startswith("validation macro-F1 per epoch")


def test_the_combination_search_names_its_weight_and_prior_correction():
    combined = run(
        "combined",
        {},
        {
            "weight_search": [
                {"weight": 0.5, "tau": 0.0, "validation_f1": 0.600},
                {"weight": 0.6, "tau": 0.0, "validation_f1": 0.612},
                {"weight": 0.6, "tau": 0.25, "validation_f1": 0.606},
            ],
            "selected_weight": 0.6,
            "selected_tau": 0.0,
            "combine_seconds": 48.0,
        },
    )
    row = methods.search_table([combined]).iloc[0]
    assert row["searched"] == "transformer weight × prior tau" and row["kept"] == "weight 0.6, tau 0"
    assert row["validation F1 of the kept point"] == 0.612 and row["points"] == 3
    assert row["validation F1 over the points"] == "0.600–0.612"


def test_nothing_measured_yet_is_a_sentence_naming_the_command():
    crf = run("crf", {"c1": [0.1]}, {"epochs": []})
    assert list(methods.recipe_table([crf]).columns) == ["not measured", "to add it, run"]
    assert "python -m pipeline compare" in methods.ablation_sentence(None)
    assert "python -m pipeline train --seeds 42,43,44" in methods.seed_sentences(None)
    assert methods.gpu_sentence([crf]).startswith("No run of this report was benchmarked on a GPU")
    assert list(methods.windows_choice_table([crf]).columns) == ["not measured", "to add it, run"]
    assert list(reproduce.stage_table([]).columns) == ["not measured", "to add it, run"]
    assert reproduce.seeds_sentence(None, None) == "No data summary or comparison yet: run `python -m pipeline all`."


def test_a_variant_table_marks_the_chosen_variant_and_its_f1_against_fp32():
    def row(label: str, batch: int, speed: float, f1: float) -> dict:
        return {"label": label, "device": "cpu", "batch_size": batch, "docs_per_second": speed, "test_micro_f1": f1}

    bench = {
        "variants": [row("fp32", 1, 9.6, 0.618), row("fp32", 8, 12.1, 0.618), row("int8 256/16", 8, 22.2, 0.608)],
        "summary": {"chosen": {"label": "int8 256/16"}},
        "reference": {"rows": [row("transformers pipeline", 1, 13.3, 0.0)], "test_micro_f1": 0.489},
    }
    table = methods.variant_table(run("minilm", {}, {}, bench))
    assert list(table["subject"]) == ["fp32", "int8 256/16 (chosen)", "transformers pipeline"]
    assert list(table["batch"]) == [8, 8, 1]  # each subject at its fastest batch size
    assert list(table["test points against fp32"]) == ["+0.0", "-1.0", "-12.9"]
    assert list(table["docs/s (median, range)"]) == ["12.1", "22.2", "13.3"]  # no range recorded: the median alone


def test_the_machine_details_name_the_variants_bench_skipped_there_with_why():
    int8 = "no VNNI/AMX int8 instructions (probe: int8 1.6 GOP/s, fp32 62 GFLOP/s)"
    bench = {
        "variants": [{"label": "fp32", "device": "cpu", "batch_size": 1, "docs_per_second": 3.1}],
        "device": "cpu",
        "threads": 2,
        "machine": {"cpu": "AMD EPYC 7B13 64-Core Processor", "vector": "AVX2", "cores": 2, "gpu": None},
        "cpu": {"flags": []},
        "versions": {"torch": "2.11.0"},
        "skipped": [
            {
                "variant": "bf16",
                "reason": "no AVX-512 BF16/AMX bf16 instructions (probe: bf16 0.6 GFLOP/s, fp32 62 GFLOP/s)",
            },
            {"variant": "int8", "reason": int8},
            {"variant": "onnx-int8", "reason": int8},
        ],
    }
    assert methods.machine_details(run("minilm", {}, {}, bench)) == (
        "minilm was benchmarked on AMD EPYC 7B13 64-Core Processor (AVX2, 2 cores) with 2 threads; the CPU's bf16 and "
        "int8 instruction sets: none found; "
        "torch 2.11.0. Not timed on this machine: bf16: no AVX-512 BF16/AMX bf16 instructions (probe: bf16 0.6 "
        f"GFLOP/s, fp32 62 GFLOP/s); int8 and onnx-int8: {int8}."
    )
    assert "Not timed" not in methods.machine_details(run("minilm", {}, {}, {**bench, "skipped": []}))
    older = {key: value for key, value in bench.items() if key != "machine"}  # a bench.json from before it was recorded
    assert methods.machine_details(run("minilm", {}, {}, older)).startswith(
        "minilm was benchmarked on an unrecorded machine"
    )


def test_versions_that_differ_between_runs_name_the_runs():
    first = run("minilm", {}, {}, config={"versions": {"torch": "2.11.0", "numpy": "2.1"}})
    second = run("crf", {}, {}, config={"versions": {"torch": "2.10.0", "numpy": "2.1"}})
    table = reproduce.versions_table([first, second]).set_index("package")["version"]
    assert table.to_dict() == {"torch": "2.11.0 (minilm); 2.10.0 (crf)", "numpy": "2.1"}
