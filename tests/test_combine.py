"""The tuned CRF, the combined transformer+CRF run and the ablation, trained for real on a tiny corpus."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_brat_folder

from pipeline.config import AnalysisConfig, CombineConfig, CompareConfig, CRFConfig, DataConfig, TrainConfig
from pipeline.core.errors import ConfigError
from pipeline.core.layout import (
    Outputs,
    RunFolder,
    read_lever_predictions,
    read_metrics,
    read_predictions,
    read_record,
    read_run_config,
    write_record,
)
from pipeline.core.parallel import usable_cores, worker_count
from pipeline.core.scoring import strict_scores
from pipeline.data.prepare import prepare_data
from pipeline.evaluation.analyze import analyze_run
from pipeline.evaluation.compare import compare_runs
from pipeline.modeling.crf import predict_crf
from pipeline.modeling.features import length_measure
from pipeline.modeling.mixture import CombinedTagger
from pipeline.modeling.tagger import load_tagger
from pipeline.reporting.tables.experiments import ablation_table, combined_versus_crf_table
from pipeline.reporting.tables.model import validation_search_table
from pipeline.training.combine import combine_runs
from pipeline.training.train import train_run
from pipeline.training.train_crf import search_grid, train_crf

pytestmark = pytest.mark.slow  # trains a tiny BERT and CRFs (about a minute)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """Synthetic brat corpus prepared into an output folder: 8 train, 2 validation, 2 test documents."""
    root = tmp_path_factory.mktemp("combine")
    config = DataConfig(
        data=str(synthetic_brat_folder(root / "brat")), output_dir=str(root / "out"), validation_size=2, test_size=2
    )
    prepare_data(config, length_measure(config), progress=False)
    return root / "out"


@pytest.fixture(scope="module")
def transformer_run(prepared, tiny_model_dir) -> Path:
    """A tiny BERT trained a few epochs: it has learnt something, not everything (the CRF can help)."""
    return train_run(
        TrainConfig(
            model=str(tiny_model_dir),
            output_dir=str(prepared),
            lr=[5e-3],
            batch_size=4,
            epochs=3,
            patience=3,
            max_length=32,
            overlap=8,
            wandb=False,
            warmup_steps=0,
        )
    )


@pytest.fixture(scope="module")
def crf_run(prepared) -> Path:
    """c1 = 100 zeroes every weight (the CRF predicts O everywhere); c1 = 0.01 learns the pattern."""
    return train_crf(
        CRFConfig(
            output_dir=str(prepared), wandb=False, c1=[0.01, 100.0], c2=[0.01], max_iterations=40, grid_iterations=20
        )
    )


@pytest.fixture(scope="module")
def combined_run(prepared, transformer_run, crf_run) -> Path:
    config = CombineConfig(output_dir=str(prepared), wandb=False, weights=[0.0, 0.5, 1.0], prior_taus=[0.0, 1.0])
    return combine_runs(config, transformer_run, crf_run)


def test_the_crf_keeps_the_grid_point_best_on_validation_and_records_every_point(crf_run):
    found = read_metrics(crf_run)
    assert [(point["c1"], point["c2"], point["iterations"]) for point in found["grid"]] == [
        (0.01, 0.01, 20),
        (100.0, 0.01, 20),
    ]
    assert found["grid"][1]["validation_f1"] == 0.0  # everything regularised away: no entity predicted
    assert found["grid"][0]["validation_f1"] > 0.9
    assert found["selected"] == {"c1": 0.01, "c2": 0.01}
    assert found["train_seconds"] >= found["grid_seconds"] > 0  # the wall time of the grid
    assert found["grid_fit_seconds_total"] == pytest.approx(sum(p["fit_seconds"] for p in found["grid"]))
    assert found["workers"] == worker_count(0, 2)  # one per usable core, at most one per point
    assert found["test"]["micro"]["f1"] > 0.9


def test_a_single_point_grid_is_fitted_once_with_the_full_iterations(prepared, tmp_path):
    shutil.copytree(prepared / "data", tmp_path / "data")  # its own outputs: run names have one-second resolution
    found = read_metrics(
        train_crf(CRFConfig(output_dir=str(tmp_path), wandb=False, c1=[0.1], c2=[0.1], max_iterations=7))
    )
    assert [(p["c1"], p["iterations"]) for p in found["grid"]] == [(0.1, 7)]
    assert found["grid_seconds"] == found["grid_fit_seconds_total"] == 0.0 and found["workers"] == 1


@pytest.fixture(scope="module")
def real_notes(shared_brat) -> tuple[list, list]:
    """Four real notes to train on and three to validate on."""
    from pipeline.data.brat import read_brat_folder

    documents = read_brat_folder(shared_brat, progress=False).documents
    return documents[:4], documents[150:153]


def grids_in_one_and_two_processes(config: CRFConfig, notes: tuple[list, list]) -> list[tuple]:
    if usable_cores() < 2:
        pytest.skip("one usable core: two workers would run as one")
    return [search_grid(dataclasses.replace(config, workers=workers), *notes) for workers in (1, 2)]


@pytest.mark.parametrize("grid_iterations", [10, 15], ids=["winner-refitted", "winner-kept-from-its-worker"])
def test_the_grid_fitted_in_two_processes_records_and_chooses_as_in_one(real_notes, grid_iterations):
    config = CRFConfig(
        wandb=False, c1=[0.05, 1.0, 300.0], c2=[0.01, 0.1], grid_iterations=grid_iterations, max_iterations=15
    )
    (one, grid_one, cost_one), (two, grid_two, cost_two) = grids_in_one_and_two_processes(config, real_notes)
    without_seconds = lambda grid: [{k: v for k, v in point.items() if k != "fit_seconds"} for point in grid]
    assert without_seconds(grid_two) == without_seconds(grid_one)
    assert len(grid_one) == 6 and len({point["validation_f1"] for point in grid_one}) > 2  # a real choice
    assert (cost_one["workers"], cost_two["workers"]) == (1, 2)
    assert (two.c1, two.c2, two.max_iterations) == (one.c1, one.c2, 15)
    words = [document.words for document in real_notes[1]]
    assert predict_crf(two, words) == predict_crf(one, words)


def test_of_equal_points_two_processes_keep_the_first_as_one_does(real_notes):
    config = CRFConfig(wandb=False, c1=[400.0, 300.0], c2=[0.1], grid_iterations=15, max_iterations=15)
    (one, grid_one, _), (two, grid_two, _) = grids_in_one_and_two_processes(config, real_notes)
    assert [point["validation_f1"] for point in grid_two] == [point["validation_f1"] for point in grid_one] == [0, 0]
    assert one.c1 == two.c1 == 400.0  # everything regularised away by both: the first point is kept


def test_the_combined_run_keeps_the_weight_and_tau_best_on_validation_and_records_its_levers(prepared, combined_run):
    found = read_metrics(combined_run)
    search = {(point["weight"], point["tau"]): point["validation_f1"] for point in found["weight_search"]}
    assert list(search) == [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (0.0, 1.0), (0.5, 1.0), (1.0, 1.0)]  # tau 0 first
    assert (found["selected_weight"], found["selected_tau"]) == max(search, key=search.get)
    assert found["objective"] == "micro"
    assert found["validation"]["micro"]["f1"] == pytest.approx(search[found["selected_weight"], found["selected_tau"]])
    # weight 0 is the CRF's marginals alone and weight 1 the transformer alone, both under Viterbi
    for lever, weight in (("crf-viterbi", 0.0), ("transformer-viterbi", 1.0)):
        records = read_lever_predictions(combined_run, lever, "validation")
        scored = strict_scores([r["gold"] for r in records], [r["pred"] for r in records])["micro"]["f1"]
        assert scored == pytest.approx(search[weight, 0.0])
    for lever, tau in (("combined-no-prior", 0.0), ("combined-prior", 1.0)):
        setting = found["prior_levers"][lever]
        assert setting["tau"] == tau and search[setting["weight"], tau] == max(
            v for k, v in search.items() if k[1] == tau
        )
        records = read_lever_predictions(combined_run, lever, "validation")
        scored = strict_scores([r["gold"] for r in records], [r["pred"] for r in records])["micro"]["f1"]
        assert scored == pytest.approx(search[setting["weight"], tau])
    assert RunFolder(combined_run).levers() == [
        "combined-no-prior",
        "combined-prior",
        "crf-viterbi",
        "transformer-argmax",
        "transformer-viterbi",
    ]
    config = read_run_config(combined_run)
    assert config["model"] == "combined" and config["train"]["decoder"] == "viterbi"


def test_the_search_chooses_by_the_validation_objective_asked_for(prepared, transformer_run, crf_run, tmp_path):
    shutil.copytree(prepared / "data", tmp_path / "data")  # its own outputs: run names have one-second resolution
    config = CombineConfig(
        output_dir=str(tmp_path), wandb=False, weights=[0.0, 0.5, 1.0], prior_taus=[0.0, 1.0], objective="macro"
    )
    found = read_metrics(combine_runs(config, transformer_run, crf_run))
    macro = {(point["weight"], point["tau"]): point["validation_macro_f1"] for point in found["weight_search"]}
    assert all(point["objective"] == point["validation_macro_f1"] for point in found["weight_search"])
    assert (found["selected_weight"], found["selected_tau"]) == max(macro, key=macro.get)
    assert found["validation"]["macro"]["f1"] == pytest.approx(max(macro.values()))


def test_the_weight_search_in_two_processes_records_and_chooses_as_in_one(prepared, transformer_run, crf_run, tmp_path):
    if usable_cores() < 2:
        pytest.skip("one usable core: two workers would run as one")
    found = []
    for workers in (1, 2):
        out = tmp_path / f"workers{workers}"
        shutil.copytree(prepared / "data", out / "data")
        config = CombineConfig(
            output_dir=str(out), wandb=False, weights=[0.0, 0.25, 0.5, 0.75, 1.0], prior_taus=[0.0, 0.5, 1.0]
        )
        found.append(read_metrics(combine_runs(dataclasses.replace(config, workers=workers), transformer_run, crf_run)))
    one, two = found
    assert len(one["weight_search"]) == 15 and two["weight_search"] == one["weight_search"]
    assert len({point["objective"] for point in one["weight_search"]}) > 2  # a real choice
    chosen = lambda metrics: (metrics["selected_weight"], metrics["selected_tau"], metrics["prior_levers"])
    assert chosen(two) == chosen(one)
    assert two["validation"] == one["validation"] and two["test"] == one["test"]


def test_a_negative_prior_tau_is_refused(prepared, transformer_run, crf_run):
    with pytest.raises(ConfigError, match="--prior-taus"):
        combine_runs(CombineConfig(output_dir=str(prepared), wandb=False, prior_taus=[-0.5]), transformer_run, crf_run)


def test_predict_applies_the_stored_prior_correction(prepared, transformer_run, crf_run, tmp_path):
    shutil.copytree(prepared / "data", tmp_path / "data")
    config = CombineConfig(output_dir=str(tmp_path), wandb=False, weights=[0.5], prior_taus=[1.0])
    run = combine_runs(config, transformer_run, crf_run)
    model = load_tagger(run, "fp32", "cpu")
    assert model.prior_tau == 1.0 and model.prior is not None and model.prior.sum() == pytest.approx(1.0)
    records = read_predictions(run, "test")
    words = [r["words"] for r in records]
    predicted = model.predict(words)
    assert [tags for tags, _ in predicted] == [r["pred"] for r in records]
    assert [confidence for _, confidence in predicted] == [pytest.approx(r["confidence"], abs=1e-5) for r in records]
    uncorrected = dataclasses.replace(model, prior_tau=0.0).predict(words)
    assert [confidence for _, confidence in uncorrected] != [pytest.approx(r["confidence"], abs=1e-5) for r in records]


def test_the_combined_run_costs_both_parts_training_and_counts_both_parameters(transformer_run, crf_run, combined_run):
    found, transformer, crf = (read_metrics(run) for run in (combined_run, transformer_run, crf_run))
    assert found["train_seconds"] == pytest.approx(
        transformer["train_seconds"] + crf["train_seconds"] + found["combine_seconds"]
    )
    assert found["parameters"] == transformer["parameters"] + crf["parameters"]


def test_predict_loads_both_parts_and_reproduces_the_recorded_test_predictions(combined_run):
    model = load_tagger(combined_run, "fp32", "cpu")
    found = read_metrics(combined_run)
    assert isinstance(model, CombinedTagger) and model.transformer_weight == found["selected_weight"]
    assert model.prior_tau == found["selected_tau"]
    records = read_predictions(combined_run, "test")
    predicted = model.predict([r["words"] for r in records])
    assert [tags for tags, _ in predicted] == [r["pred"] for r in records]
    assert [confidence for _, confidence in predicted] == [pytest.approx(r["confidence"], abs=1e-5) for r in records]


def test_a_part_trained_on_other_tags_is_refused(prepared, transformer_run, crf_run, tmp_path):
    config = read_run_config(crf_run)
    config["tag2id"] = {"O": 0}
    other = tmp_path / "crf-other"
    (other / "model").mkdir(parents=True)
    write_record(other / "config.json", "run_config", config)
    with pytest.raises(ConfigError, match="other tags"):
        combine_runs(CombineConfig(output_dir=str(prepared), wandb=False), transformer_run, other)


def test_analyze_and_compare_treat_the_combined_run_as_a_model_and_write_the_ablation(
    prepared, transformer_run, crf_run, combined_run
):
    analysis = analyze_run(combined_run, AnalysisConfig(resamples=50, figures=False))
    assert read_record(analysis, "analysis")["model"] == "combined"
    compare_runs([transformer_run, crf_run, combined_run], prepared, CompareConfig(resamples=50))
    ablation = read_record(Outputs(prepared).ablation, "ablation")
    levers = {(row["run"], row["source"], row["lever"]) for row in ablation["rows"]}
    found = read_metrics(combined_run)
    chosen = (found["selected_weight"], found["selected_tau"])
    other = next(s for s in found["prior_levers"].values() if (s["weight"], s["tau"]) != chosen)

    def label(weight: float, tau: float) -> str:
        prior = "no prior correction" if tau == 0 else f"prior correction tau={tau:g}"
        return f"combined: transformer weight {weight:g} + CRF, constrained Viterbi, {prior}"

    assert levers == {
        (transformer_run.name, "run", f"{read_run_config(transformer_run)['model']} (window), constrained Viterbi"),
        (crf_run.name, "run", "CRF tuned on validation (c1=0.01, c2=0.01; 2 grid points)"),
        (combined_run.name, "run", label(*chosen)),
        (combined_run.name, "lever", label(other["weight"], other["tau"])),
        (combined_run.name, "lever", f"{transformer_run.name} alone, argmax then repair"),
        (combined_run.name, "lever", f"{crf_run.name} marginals, constrained Viterbi"),
    }  # the transformer alone under Viterbi is its own run, and the prior lever the run chose is itself
    assert [row["validation_f1"] for row in ablation["rows"]] == sorted(
        row["validation_f1"] for row in ablation["rows"]
    )
    combined_row = next(row for row in ablation["rows"] if row["run"] == combined_run.name and row["source"] == "run")
    assert combined_row["f1"] == pytest.approx(read_metrics(combined_run)["test"]["micro"]["f1"])
    (versus,) = ablation["versus"]
    assert (versus["combined"], versus["crf"]) == (combined_run.name, crf_run.name)
    assert 0.0 <= versus["p_combined_better"] + versus["p_crf_better"] <= 1.0
    shown = ablation_table(ablation)
    assert len(shown) == 6 and shown["lever"].iloc[-1] == ablation["rows"][-1]["lever"]
    assert combined_versus_crf_table(ablation)["P(combined better)"].iloc[0] == versus["p_combined_better"]


def test_without_a_comparison_the_ablation_table_says_which_command_to_run():
    assert "python -m pipeline compare" in ablation_table(None).iloc[0, 1]


def test_the_model_page_shows_what_each_run_chose_on_validation(crf_run, combined_run):
    from pipeline.reporting.inputs import load_run

    grid = validation_search_table(load_run(crf_run))
    assert grid[["c1", "kept"]].values.tolist() == [[0.01, True], [100.0, False]]
    weights = validation_search_table(load_run(combined_run))
    kept = weights.loc[weights["kept"], ["transformer weight", "prior tau"]].values.tolist()
    assert weights["transformer weight"].tolist() == [0.0, 0.5, 1.0] * 2
    found = read_metrics(combined_run)
    assert kept == [[found["selected_weight"], found["selected_tau"]]]


@pytest.fixture
def benched(transformer_run, crf_run, combined_run, tmp_path) -> tuple[Path, Path]:
    """Copies of the three runs side by side (a combined run finds its parts beside it), the transformer's
    with a bench.json that chose int8 with 32/4 windows at batch 2: (transformer, combined)."""
    transformer, _, combined = (
        Path(shutil.copytree(run, tmp_path / "runs" / run.name)) for run in (transformer_run, crf_run, combined_run)
    )
    chosen = {"label": "int8 32/4", "variant": "int8", "max_length": 32, "overlap": 4, "batch_size": 2, "device": "cpu"}
    write_record(transformer / "bench.json", "bench", {"kind": "transformer", "summary": {"chosen": chosen}})
    return transformer, combined


def test_predict_runs_a_combined_runs_transformer_in_the_variant_bench_chose_for_it(benched):
    from pipeline.config import PredictConfig
    from pipeline.serving.predict import chosen_inference, describe, load_predictor

    transformer, combined = benched
    config = PredictConfig()
    chosen = chosen_inference(combined, config)
    model = load_predictor(combined, chosen.variant, chosen.windows)
    assert (model.variant, model.max_length, model.overlap, chosen.batch_size) == ("int8", 32, 4, 2)
    assert isinstance(model, CombinedTagger) and model.transformer_weight == read_metrics(combined)["selected_weight"]
    assert describe(combined, model, chosen, config) == (
        f"predict: {combined.name} as int8 (bench's choice for its transformer {transformer.name}, bench.json "
        "summary.chosen), windows --max-length 32 --overlap 4, 2 windows per forward pass (bench's choice)"
    )


def test_the_benchmark_times_the_combined_run_as_recorded_and_as_predict_runs_it(benched, combined_run):
    from pipeline.config import BenchConfig
    from pipeline.core.files import read_json
    from pipeline.serving.bench import bench_run
    from pipeline.serving.bench_worker import REFERENCE_NAME
    from pipeline.serving.predict import load_predictor

    _, combined = benched
    config = BenchConfig(windows=[], batch_sizes=[2], rounds=1, sample_docs=2, figure=False)
    result = read_json(bench_run(combined, config, progress=False))
    assert (result["kind"], result["reference"]["name"]) == ("combined", REFERENCE_NAME)
    assert {row["label"] for row in result["variants"]} == {"fp32", "int8 32/4"}  # nothing else tried
    assert result["summary"]["chosen"]["label"] == "int8 32/4"  # predict's, not chosen again
    recorded, served = (
        next(row for row in result["variants"] if row["label"] == label and row["batch_size"] == 1)
        for label in ("fp32", "int8 32/4")
    )
    # the timed models are the combination: as recorded, its test F1 is the combined run's
    assert recorded["test_micro_f1"] == pytest.approx(read_metrics(combined_run)["test"]["micro"]["f1"], abs=1e-4)
    records = read_predictions(combined, "test")
    predicted = load_predictor(combined, "int8", (32, 4)).predict([r["words"] for r in records], config.f1_batch_size)
    expected = strict_scores([r["gold"] for r in records], [tags for tags, _ in predicted])["micro"]["f1"]
    assert (served["max_length"], served["overlap"]) == (32, 4)
    assert served["test_micro_f1"] == pytest.approx(expected, abs=1e-4)


def test_the_benchmark_times_the_transformer_part_alone_in_the_same_rounds(benched):
    from pipeline.config import BenchConfig
    from pipeline.core.files import read_json
    from pipeline.serving.bench import bench_run
    from pipeline.serving.bench_console import format_bench
    from pipeline.serving.predict import load_predictor

    transformer, combined = benched
    # an odd number of rounds: the median of docs/s is the inverse of the median of seconds
    config = BenchConfig(windows=[], batch_sizes=[2], rounds=3, sample_docs=2, figure=False, reference=False)
    result = read_json(bench_run(combined, config, progress=False))
    part = result["transformer_part"]
    assert (part["run"], part["label"], part["combined_label"]) == (
        transformer.name,
        "transformer part: int8 32/4",
        "int8 32/4",
    )
    assert "transformer part: int8 32/4" not in {row["label"] for row in result["variants"]}  # not a candidate
    assert [row["batch_size"] for row in part["rows"]] == [1, 2]
    # the part's F1 is the transformer's alone with the served variant and windows, not the combination's
    records = read_predictions(combined, "test")
    predicted = load_predictor(transformer, "int8", (32, 4)).predict(
        [r["words"] for r in records], config.f1_batch_size
    )
    expected = strict_scores([r["gold"] for r in records], [tags for tags, _ in predicted])["micro"]["f1"]
    assert part["rows"][0]["test_micro_f1"] == pytest.approx(expected, abs=1e-4)
    combined_rows = {row["batch_size"]: row for row in result["variants"] if row["label"] == "int8 32/4"}
    part_rows = {row["batch_size"]: row for row in part["rows"]}
    batch, part_batch = part["ratio"]["batch_size"], part["ratio"]["reference_batch_size"]
    assert batch == max(combined_rows, key=lambda b: combined_rows[b]["docs_per_second"])
    assert part_batch == max(part_rows, key=lambda b: part_rows[b]["docs_per_second"])
    assert part["ratio"]["min"] <= part["ratio"]["median"] <= part["ratio"]["max"]
    assert part["target_met"] == (part["ratio"]["median"] >= 0.85)
    assert f"int8 32/4 against its transformer part alone ({transformer.name})" in format_bench(result)


def test_the_combined_models_predictions_are_those_of_crfsuites_own_marginals(combined_run):
    from pipeline.modeling.crf import document_features
    from pipeline.modeling.decode import decode_documents
    from pipeline.modeling.mixture import combine_documents
    from pipeline.modeling.tagging import word_probabilities

    model = dataclasses.replace(load_tagger(combined_run, "fp32", "cpu"), transformer_weight=0.5)  # both count
    notes = [r["words"] for part in ("validation", "test") for r in read_predictions(combined_run, part)]
    # the notes, the notes backwards and a note of words neither part saw: confident and doubtful words
    unseen = ["The", "61", "-", "year", "-", "old", "man", "had", "chills", "since", "Monday", "."]
    words = [*notes, *(list(reversed(w)) for w in notes), unseen]
    tag2id = {tag: index for index, tag in model.id2tag.items()}
    crfsuite = []  # python-crfsuite's marginal() per word and tag, as predict computed them before
    for marginals in model.crf.crf.predict_marginals([document_features(w) for w in words]):
        rows = np.zeros((len(marginals), len(tag2id)), dtype=np.float32)
        for word, marginal in enumerate(marginals):
            for tag, probability in marginal.items():
                rows[word, tag2id[tag]] = probability
        crfsuite.append(rows)
    transformer = word_probabilities(
        None, model.tokenizer, words, model.max_length, model.overlap, model.truncate, 32, model.transformer.forward
    )
    combined = combine_documents(transformer, crfsuite, model.transformer_weight, model.prior, model.prior_tau)
    expected = decode_documents(combined, model.id2tag, model.decoder)
    predicted = model.predict(words)
    assert any("B-" in "".join(tags) for tags, _ in predicted)
    assert any(0.1 < c < 0.9 for _, confidence in predicted for c in confidence)
    assert [tags for tags, _ in predicted] == [tags for tags, _ in expected]
    assert [c for _, c in predicted] == [pytest.approx(c, abs=1e-6) for _, c in expected]


def test_the_combinations_of_two_seed_runs_with_one_crf_are_a_seed_group_named_by_seed(
    prepared, transformer_run, crf_run, tiny_model_dir, tmp_path
):
    from pipeline.reporting.inputs import load_run
    from pipeline.training.train import train_seeds

    out = tmp_path / "out"  # its own outputs: the other tests' runs stay as they are
    shutil.copytree(prepared / "data", out / "data")
    parts = [shutil.copytree(run, out / "runs" / run.name) for run in (transformer_run, crf_run)]
    settings = {k: v for k, v in read_run_config(transformer_run)["train"].items() if k != "output_dir"}
    (seed43,) = train_seeds(TrainConfig(**{**settings, "output_dir": str(out), "seed": 43, "seeds": [43]}))
    config = CombineConfig(output_dir=str(out), wandb=False, weights=[0.0, 0.5, 1.0])
    plain, seeded = (combine_runs(config, run, parts[1]) for run in (parts[0], seed43))
    assert plain.name.startswith("combined-2") and seeded.name.startswith("combined-seed43-")  # --run combined: plain
    assert (load_run(plain).label, load_run(seeded).label) == ("combined", "combined-seed43")
    compare_runs([parts[0], seed43, parts[1], plain, seeded], out, CompareConfig(resamples=50, figures=False))
    transformers, combined = read_record(Outputs(out).seeds, "seeds")["groups"]
    assert transformers["seeds"] == combined["seeds"] == [42, 43]
    assert [run["run"] for run in combined["runs"]] == [plain.name, seeded.name]
    test_f1 = [read_metrics(run)["test"]["micro"]["f1"] for run in (plain, seeded)]
    assert combined["test_f1"]["mean"] == pytest.approx(sum(test_f1) / 2)
    assert combined["recipe"]["transformer"] == transformers["recipe"] and combined["recipe"]["crf_run"] == crf_run.name
