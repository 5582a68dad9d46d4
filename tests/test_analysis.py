"""analyze and compare end to end on fixture runs: the JSON sections, tiers, bad input, the CLI."""

from __future__ import annotations

import dataclasses
import shutil
import statistics

import pytest
from fixtures import TYPES, make_fixture_combined_run, make_fixture_run

from pipeline.cli import main, resolve_run
from pipeline.config import AnalysisConfig, CompareConfig
from pipeline.core.errors import MissingInputError
from pipeline.core.files import read_json
from pipeline.core.layout import read_predictions, read_record, write_predictions, write_record
from pipeline.core.scoring import strict_scores
from pipeline.evaluation.analyze import analyze_records, analyze_run, tier_scores
from pipeline.evaluation.compare import compare_runs
from pipeline.evaluation.confidence import scored_spans
from pipeline.evaluation.figures import uncrowded
from pipeline.evaluation.metrics import document_counts
from pipeline.evaluation.policy import PolicySettings, choose_policy, evaluate_policy
from pipeline.reporting.tables.experiments import seed_table

FAST = CompareConfig(resamples=200, figures=False)


def test_analysis_json_holds_every_section_and_matches_seqeval(tmp_path):
    run_dir = make_fixture_run(tmp_path)
    analysis = read_json(analyze_run(run_dir))
    assert {
        "run",
        "model",
        "part",
        "scores",
        "tiers",
        "frequency_scatter",
        "errors",
        "examples",
        "patterns",
        "confidence",
        "readiness",
        "figures",
    } <= set(analysis)
    assert analysis["scores"]["micro"] == pytest.approx(read_json(run_dir / "metrics.json")["test"]["micro"])
    low, high = analysis["scores"]["intervals"]["micro_f1"]
    assert low < analysis["scores"]["micro"]["f1"] < high
    assert set(analysis["tiers"]) == {"frequent", "medium", "rare"}
    assert 20 <= len(analysis["examples"]) <= 25
    assert analysis["readiness"]["recommended"]["threshold"] in analysis["config"]["thresholds"]
    for path in analysis["figures"].values():
        png = run_dir / "analysis" / path
        assert png.stat().st_size > 1000 and png.with_suffix(".svg").exists()


def tagged(tags: list[str], doc_id: str = "d1") -> dict:
    return {"id": doc_id, "words": ["w"] * len(tags), "confidence": [0.9] * len(tags), "gold": tags, "pred": tags}


def test_tier_f1_uses_the_tier_spans_not_deleted_tokens():
    # gold: Age "45-year-old" then Height "170" (adjacent); the model stretches Age over both words.
    # On the spans of the medium tier (Age): gold (0,1), predicted (0,2) -> F1 0. Masking the other tiers to O
    # and deleting the O tokens would cut the prediction to (0,1) and report a perfect F1 of 1.
    record = {**tagged(["B-Age", "B-Height"]), "pred": ["B-Age", "I-Age"]}
    info = {"Age": {"tier": "medium"}, "Height": {"tier": "rare"}}
    tiers = tier_scores(document_counts([record], ["Age", "Height"]), info, 100, 0)
    assert tiers["medium"]["f1"] == 0.0 and tiers["rare"]["recall"] == 0.0
    kept = [i for i, tag in enumerate(record["gold"]) if tag.endswith("Age")]
    deleted = strict_scores([[record["gold"][i] for i in kept]], [[record["pred"][i] for i in kept]])
    assert deleted["micro"]["f1"] == 1.0


def test_a_run_without_predicted_entities_gives_zeros(tmp_path):
    run_dir = make_fixture_run(tmp_path)
    for part in ("validation", "test"):
        write_predictions(
            run_dir, part, [{**r, "pred": ["O"] * len(r["pred"]), "spans": []} for r in read_predictions(run_dir, part)]
        )
    analysis = read_json(analyze_run(run_dir, FAST))
    assert analysis["scores"]["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert analysis["confidence"]["mean"]["tp"] is None and analysis["confidence"]["temperature"] == 1.0
    assert all(row["precision"] == 0.0 and row["coverage"] == 0.0 for row in analysis["readiness"]["thresholds"])
    assert analysis["errors"]["counts"]["missed"] == analysis["errors"]["gold_spans"]


def test_a_tag_outside_the_run_tag_set_names_the_document(tmp_path):
    run_dir = make_fixture_run(tmp_path)
    records = read_predictions(run_dir, "test")
    records[2]["pred"][0] = "B-Unknown_type"
    write_predictions(run_dir, "test", records)
    with pytest.raises(ValueError, match=f"document {records[2]['id']}: pred tag 'B-Unknown_type'"):
        analyze_run(run_dir, FAST)


def test_span_confidence_variant_changes_only_confidence_sections(tmp_path):
    test = read_predictions(make_fixture_run(tmp_path), "test")
    types = sorted({t.split("-", 1)[1] for r in test for t in r["gold"] if t != "O"})
    policy = choose_policy(scored_spans(test), types, len(test), PolicySettings())
    by_min, by_mean = (
        analyze_records(test, test, types, {}, AnalysisConfig(resamples=50, span_confidence=how), policy)
        for how in ("min", "mean")
    )
    assert by_min["scores"] == by_mean["scores"]
    assert by_mean["confidence"]["mean"]["fp"] > by_min["confidence"]["mean"]["fp"]


def test_analyze_chooses_the_policy_on_validation_alone_and_reports_it_on_test(tmp_path):
    run_dir = make_fixture_run(tmp_path)
    config = dataclasses.replace(FAST, policy_min_support=5)
    analysis = read_json(analyze_run(run_dir, config))
    policy = read_record(run_dir / "policy.json", "policy")
    assert (policy["run"], policy["chosen_on"], policy["span_confidence"]) == (run_dir.name, "validation", "min")
    assert set(policy["types"]) == set(TYPES) and policy["settings"]["min_support"] == 5
    assert {entry["source"] for entry in policy["types"].values()} == {"type", "pooled"}  # both kinds in the fixture
    validation = scored_spans(read_predictions(run_dir, "validation"))
    assert policy["validation"]["predicted"] == len(validation.types)
    test = scored_spans(read_predictions(run_dir, "test"))
    assert analysis["policy"] == {"part": "test", **evaluate_policy(policy, test, 10)}
    records = read_predictions(run_dir, "test")
    write_predictions(run_dir, "test", [{**r, "confidence": [0.5] * len(r["confidence"])} for r in records])
    analyze_run(run_dir, config)
    assert read_record(run_dir / "policy.json", "policy") == policy  # test predictions never move the policy


def test_compare_pairs_runs_on_the_same_documents_and_reads_bench(tmp_path):
    runs = tmp_path / "runs"
    first = make_fixture_run(runs, "minilm-20260101-000000", seed=0)
    second = make_fixture_run(runs, "crf-20260101-000000", seed=1, model="crf")
    write_record(first / "bench.json", "bench", {"summary": {"docs_per_second": 4.5}})
    other = make_fixture_run(runs, "minilm-rows-20260101-000000", seed=2)
    write_predictions(other, "test", [{**r, "id": "x" + r["id"]} for r in read_predictions(other, "test")])
    comparison = read_json(compare_runs([first, second, other], tmp_path, FAST))
    assert comparison["runs"] == [first.name, second.name, other.name]
    rows = {m["run"]: m for m in comparison["models"]}
    assert rows[first.name]["docs_per_second"] == 4.5 and rows[second.name]["docs_per_second"] is None
    assert rows[first.name]["micro"]["f1"] == pytest.approx(read_json(first / "metrics.json")["test"]["micro"]["f1"])
    assert len(comparison["pairwise"]) == 1 and len(comparison["unpaired"]) == 2
    pair = comparison["pairwise"][0]
    assert rows[pair["a"]]["micro"]["f1"] >= rows[pair["b"]]["micro"]["f1"]
    assert 0.0 <= pair["p_a_better"] <= 1.0 and pair["ci"][0] <= pair["mean_difference"] <= pair["ci"][1]
    # a bench.json without the variant bench chose shows no throughput: no run meets the requirements
    assert comparison["best"]["overall"] is None and first.name in comparison["selection"]["not_benchmarked"]
    assert (tmp_path / "comparison" / comparison["figures"]["f1_by_model"]).exists()


def seed_run(runs, seed: int, **train):
    """A fixture run of `train --seeds 1,2,3` (its predictions drawn with `seed` too)."""
    return make_fixture_run(
        runs, f"minilm-seed{seed}-20260101-00000{seed}", seed, train={"seed": seed, "seeds": [1, 2, 3], **train}
    )


def test_compare_summarises_the_runs_of_one_recipe_that_differ_only_by_seed(tmp_path):
    runs = tmp_path / "runs"
    seeded = [seed_run(runs, seed) for seed in (1, 2, 3)]
    other_recipe = seed_run(runs, 4, lr=[1e-3])  # alone with its learning rate: summarised with nothing
    crf = make_fixture_run(runs, "crf-20260101-000000", seed=5, model="crf")
    comparison = read_json(compare_runs([*seeded, other_recipe, crf], tmp_path, FAST))
    assert comparison["seed_summary"] == "seeds.json"
    (group,) = read_record(tmp_path / "comparison" / "seeds.json", "seeds")["groups"]
    assert group["seeds"] == [1, 2, 3] and [r["run"] for r in group["runs"]] == [run.name for run in seeded]
    rows = {m["run"]: m for m in comparison["models"]}
    test_f1 = [rows[run.name]["micro"]["f1"] for run in seeded]
    validation_f1 = [rows[run.name]["selection"]["micro"]["f1"] for run in seeded]
    assert len(set(test_f1)) == 3  # the fixture seeds predict differently
    assert group["test_f1"] == pytest.approx(
        {"mean": statistics.mean(test_f1), "std": statistics.stdev(test_f1), "min": min(test_f1), "max": max(test_f1)}
    )
    assert group["validation_f1"]["mean"] == pytest.approx(statistics.mean(validation_f1))


def combined_seed_runs(runs, seeds=(1, 2, 3), crf=None, **train):
    """Seed runs of one recipe, a CRF, and each seed run combined with that CRF (`combined-seed<N>-...`)."""
    crf = crf or make_fixture_run(runs, "crf-20260101-000000", seed=9, model="crf")
    seeded = [seed_run(runs, seed, **train) for seed in seeds]
    combined = [
        make_fixture_combined_run(runs, f"combined-seed{seed}-20260102-00000{seed}", run, crf, seed + 10)
        for seed, run in zip(seeds, seeded)
    ]
    return seeded, crf, combined


def test_the_combinations_of_one_recipes_seed_runs_with_one_crf_form_a_seed_group_of_their_own(tmp_path):
    seeded, crf, combined = combined_seed_runs(tmp_path / "runs")
    comparison = read_json(compare_runs([*seeded, crf, *combined], tmp_path, FAST))
    transformer_group, combined_group = read_record(tmp_path / "comparison" / "seeds.json", "seeds")["groups"]
    assert transformer_group["model"] == "minilm" and [r["run"] for r in transformer_group["runs"]] == [
        run.name for run in seeded
    ]
    assert combined_group["model"] == "combined" and combined_group["seeds"] == [1, 2, 3]  # its transformer parts'
    assert [r["run"] for r in combined_group["runs"]] == [run.name for run in combined]
    test_f1 = [m["micro"]["f1"] for m in comparison["models"] if m["model"] == "combined"]
    assert len(set(test_f1)) == 3
    assert combined_group["test_f1"] == pytest.approx(
        {"mean": statistics.mean(test_f1), "std": statistics.stdev(test_f1), "min": min(test_f1), "max": max(test_f1)}
    )
    recipe = combined_group["recipe"]
    assert (recipe["crf_run"], recipe["weights"], recipe["decoder"]) == (crf.name, [0.0, 0.5, 1.0], "viterbi")
    assert recipe["transformer"] == transformer_group["recipe"] and "run" not in recipe  # "minilm" as typed


@pytest.mark.parametrize(
    "differs",
    [{"crf": "crf-20260101-000001"}, {"weights": (0.0, 1.0)}, {"decoder": "argmax"}],
    ids=["another CRF run", "other weight candidates", "another decoder"],
)
def test_combinations_that_differ_in_more_than_the_seed_are_not_a_seed_group(tmp_path, differs):
    runs, differs = tmp_path / "runs", dict(differs)
    seeded, crf, (first, _) = combined_seed_runs(runs, seeds=(1, 2))
    other_crf = make_fixture_run(runs, differs.pop("crf"), seed=8, model="crf") if "crf" in differs else crf
    second = make_fixture_combined_run(runs, "combined-seed2-20260103-000000", seeded[1], other_crf, 12, **differs)
    compare_runs([*seeded, crf, first, second], tmp_path, FAST)
    (group,) = read_record(tmp_path / "comparison" / "seeds.json", "seeds")["groups"]
    assert group["model"] == "minilm"  # the transformer seeds still are one


def test_combinations_of_seed_runs_of_different_recipes_are_not_a_seed_group(tmp_path):
    runs = tmp_path / "runs"
    crf = make_fixture_run(runs, "crf-20260101-000000", seed=9, model="crf")
    first, second = seed_run(runs, 1), seed_run(runs, 2, lr=[1e-3])
    combined = [
        make_fixture_combined_run(runs, f"combined-seed{n}-20260102-000000", run, crf, n + 10)
        for n, run in ((1, first), (2, second))
    ]
    assert read_json(compare_runs([first, second, crf, *combined], tmp_path, FAST))["seed_summary"] is None


def test_a_combined_run_whose_transformer_part_is_gone_is_left_out_of_the_seed_summary_with_a_warning(tmp_path, caplog):
    seeded, crf, combined = combined_seed_runs(tmp_path / "runs", seeds=(1, 2))
    shutil.rmtree(seeded[0])
    compare_runs([seeded[1], crf, *combined], tmp_path, FAST)
    assert not (tmp_path / "comparison" / "seeds.json").exists()
    assert f"its transformer part {seeded[0].name} is neither beside it" in caplog.text
    assert "left out of the seed summary" in caplog.text
    ablation = read_record(tmp_path / "comparison" / "ablation.json", "ablation")  # the ablation still has its row
    assert combined[0].name in {row["run"] for row in ablation["rows"]}
    assert "its transformer's training levers are not named in the ablation" in caplog.text


def test_seed_table_lists_each_seed_then_the_mean_and_range(tmp_path):
    runs = tmp_path / "runs"
    compare_runs([seed_run(runs, 1), seed_run(runs, 2)], tmp_path, FAST)
    record = read_record(tmp_path / "comparison" / "seeds.json", "seeds")
    table = seed_table(record)
    f1 = record["groups"][0]["test_f1"]
    assert list(table["seed"]) == ["1", "2", "mean (min-max) of 2 seeds"]
    assert table["test micro-F1"].iloc[-1] == f"{f1['mean']:.3f} ({f1['min']:.3f}-{f1['max']:.3f})"


def test_compare_without_seed_runs_removes_a_stale_seed_summary(tmp_path):
    runs = tmp_path / "runs"
    first, second = seed_run(runs, 1), seed_run(runs, 2)
    compare_runs([first, second], tmp_path, FAST)
    assert (tmp_path / "comparison" / "seeds.json").exists()
    assert read_json(compare_runs([first], tmp_path, FAST))["seed_summary"] is None
    assert not (tmp_path / "comparison" / "seeds.json").exists()


def test_cli_resolves_a_run_prefix_and_reports_a_missing_run(tmp_path, caplog):
    make_fixture_run(tmp_path / "runs", "minilm-20260101-000000")
    newest = make_fixture_run(tmp_path / "runs", "minilm-20260102-000000")
    assert main(["analyze", "--run", "minilm", "--output-dir", str(tmp_path), "--resamples", "50", "--no-figures"]) == 0
    assert (newest / "analysis" / "analysis.json").exists()
    assert main(["compare", "minilm", "nothing", "--output-dir", str(tmp_path)]) == 2
    assert "no run directory 'nothing'" in caplog.text


def test_a_run_prefix_is_every_name_part_before_the_date_time(tmp_path):
    runs = tmp_path / "runs"
    plain = make_fixture_run(runs, "minilm-20261129-195220")
    make_fixture_run(runs, "minilm-truncate-20261129-201950")
    seed43 = make_fixture_run(runs, "minilm-seed43-20261129-215351")  # newer than the plain run
    assert resolve_run("minilm", str(tmp_path)) == plain  # never the truncate or seed variant
    assert resolve_run("minilm-seed43", str(tmp_path)) == seed43


def test_a_prefix_that_names_no_run_lists_the_runs_it_starts(tmp_path):
    runs = tmp_path / "runs"
    for name in ("minilm-seed43-20261129-215351", "minilm-seed44-20261129-225351", "crf-20261129-204511"):
        make_fixture_run(runs, name)
    with pytest.raises(MissingInputError) as caught:
        resolve_run("minilm-seed", str(tmp_path))  # a part of a name part matches nothing
    assert str(caught.value).endswith(
        "finished runs starting with 'minilm-seed': minilm-seed43-20261129-215351, minilm-seed44-20261129-225351"
    )
    with pytest.raises(MissingInputError, match=r"finished runs there: crf-20261129-204511, minilm-seed43-"):
        resolve_run("bert", str(tmp_path))


def test_cli_resolves_an_exact_run_name_that_is_not_the_newest(tmp_path):
    older = make_fixture_run(tmp_path / "runs", "minilm-20260101-000000")
    make_fixture_run(tmp_path / "runs", "minilm-20260102-000000")
    args = ["analyze", "--run", "minilm-20260101-000000", "--output-dir", str(tmp_path), "--resamples", "50"]
    assert main([*args, "--no-figures"]) == 0
    assert (older / "analysis" / "analysis.json").exists()


def test_scatter_labels_skip_points_crowding_a_better_supported_one():
    # x runs over log10(2)..log10(2000), 3 decades; a 6-letter label is 0.054 of that wide
    points = [
        {"type": "Weight", "train_mentions": 2, "f1": 0.0, "support": 1},
        {"type": "Height", "train_mentions": 2, "f1": 0.02, "support": 4},
        {"type": "Age", "train_mentions": 20, "f1": 0.0, "support": 2},
        {"type": "Sign_symptom", "train_mentions": 2000, "f1": 0.6, "support": 300},
    ]
    assert [p["type"] for p in uncrowded(points)] == ["Sign_symptom", "Height", "Age"]
