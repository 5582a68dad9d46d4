"""analyze and compare end to end on fixture runs: the JSON sections, tiers, bad input, the CLI."""

from __future__ import annotations

import statistics

import pytest
from fixtures import make_fixture_run

from pipeline.cli import main
from pipeline.config import AnalysisConfig, CompareConfig
from pipeline.core.files import read_json
from pipeline.core.layout import read_predictions, read_record, write_predictions, write_record
from pipeline.core.scoring import strict_scores
from pipeline.evaluation.analyze import analyze_records, analyze_run, tier_scores
from pipeline.evaluation.compare import compare_runs
from pipeline.evaluation.figures import uncrowded
from pipeline.evaluation.metrics import document_counts
from pipeline.reporting.tables import seed_table

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
    by_min, by_mean = (
        analyze_records(test, test, types, {}, AnalysisConfig(resamples=50, span_confidence=how))
        for how in ("min", "mean")
    )
    assert by_min["scores"] == by_mean["scores"]
    assert by_mean["confidence"]["mean"]["fp"] > by_min["confidence"]["mean"]["fp"]


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
    assert comparison["best"]["overall"] in comparison["runs"]
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
