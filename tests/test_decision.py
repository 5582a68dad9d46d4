"""Choosing the model to deploy (Task 1.9): requirements first, then the credibly most accurate on validation;
the weighted decision matrix as a sensitivity view (hand-worked totals, weights that change the winner, its flag)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from fixtures import make_fixture_run
from report_fixtures import bench_json

from pipeline.cli import main
from pipeline.config import AnalysisConfig, CompareConfig, parse_weights
from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json
from pipeline.core.layout import write_record
from pipeline.evaluation import metrics
from pipeline.evaluation.compare import bench_speed, compare_runs, decision_matrix, pairwise
from pipeline.evaluation.selection import against_choice, requirements, select

DEFAULT = parse_weights("f1=0.4,speed=0.3,rare=0.2,memory=0.1")


def model(
    run: str,
    f1: float,
    rare: float,
    docs_per_second: float | None,
    memory: float | None,
    split="document",
    precision: float | None = None,
):
    speed = (
        None
        if docs_per_second is None
        else {"label": "int8", "batch_size": 8, "docs_per_second": docs_per_second, "peak_memory_mb": memory}
    )
    return {
        "run": run,
        "split_strategy": split,
        "selection": {"micro": {"f1": f1, "precision": f1 if precision is None else precision}, "rare_f1": rare},
        "speed": speed,
        "train_seconds": 60.0,
        "model_size_mb": 90.0,
        "parameters": 22_000_000,
    }


ACCURATE = model("accurate", f1=0.60, rare=0.30, docs_per_second=5.0, memory=1000.0)
FAST = model("fast", f1=0.50, rare=0.20, docs_per_second=20.0, memory=500.0)
CRF = model("crf", f1=0.45, rare=0.10, docs_per_second=None, memory=None)  # not benchmarked


def test_each_criterion_is_a_share_of_the_best_run_and_the_total_their_weighted_mean():
    matrix = decision_matrix([ACCURATE, FAST, CRF], DEFAULT, "validation")
    rows = {row["run"]: row for row in matrix["rows"]}
    # accurate: F1 0.60/0.60, speed 5/20, rare 0.30/0.30, memory 500/1000
    assert rows["accurate"]["scores"] == {"f1": 1.0, "speed": 0.25, "rare": 1.0, "memory": 0.5}
    assert rows["accurate"]["total"] == pytest.approx(0.4 + 0.3 * 0.25 + 0.2 + 0.1 * 0.5)  # 0.725
    # fast: 0.50/0.60 = 0.8333, 20/20, 0.20/0.30 = 0.6667, 500/500
    assert rows["fast"]["scores"] == {"f1": 0.8333, "speed": 1.0, "rare": 0.6667, "memory": 1.0}
    assert rows["fast"]["total"] == pytest.approx(0.8667)
    # crf: unmeasured speed and memory score 0: 0.4 * 0.75 + 0.2 * 0.3333
    assert rows["crf"]["scores"] == {"f1": 0.75, "speed": 0.0, "rare": 0.3333, "memory": 0.0}
    assert rows["crf"]["total"] == pytest.approx(0.3667) and rows["crf"]["missing"] == ["speed", "memory"]
    assert (matrix["winner"], matrix["runner_up"], matrix["weights"]) == ("fast", "accurate", DEFAULT)


def test_different_weights_choose_different_winners():
    matrix = decision_matrix([ACCURATE, FAST, CRF], DEFAULT, "validation")
    winners = {row["name"]: row["winner"] for row in matrix["alternatives"]}
    assert winners == {
        "F1 only": "accurate",
        "speed only": "fast",
        "rare-tier F1 only": "accurate",
        "memory only": "fast",
        "an equal weighting": "fast",  # (0.8333 + 1 + 0.6667 + 1) / 4 = 0.875 against (1 + 0.25 + 1 + 0.5) / 4 = 0.6875
    }
    assert decision_matrix([ACCURATE, FAST, CRF], parse_weights("f1=1"), "validation")["winner"] == "accurate"


def test_a_row_split_run_is_shown_but_never_chosen():
    leaky = model("leaky", f1=0.90, rare=0.80, docs_per_second=50.0, memory=100.0, split="rows")
    matrix = decision_matrix([ACCURATE, leaky], DEFAULT, "validation")
    assert matrix["winner"] == "accurate" and matrix["runner_up"] is None
    assert matrix["rows"][1]["candidate"] is False and matrix["rows"][1]["total"] is None
    assert matrix["rows"][0]["scores"]["speed"] == 1.0  # normalised over the candidates only
    assert [row["run"] for row in matrix["excluded"]] == ["leaky"]
    with pytest.raises(ConfigError, match="row split"):
        decision_matrix([leaky], DEFAULT, "validation")


def test_weights_name_known_criteria_and_are_not_negative():
    assert parse_weights("f1=1, rare=0.5") == {"f1": 1.0, "speed": 0.0, "rare": 0.5, "memory": 0.0}
    for text, message in (
        ("f1=1,latency=1", "unknown criterion 'latency'"),
        ("f1=1,speed=-0.1", "weights are 0 or more"),
        ("f1=high", "not <criterion>=<number>"),
        ("f1=0,speed=0", "at least one criterion"),
    ):
        with pytest.raises(ConfigError, match=message):
            CompareConfig(criteria_weights=text)


def test_the_speed_of_a_run_is_the_variant_bench_chose_on_validation_at_its_best_batch_size():
    bench = bench_json(4.0)  # fp32 4 docs/s; int8 9 docs/s at 0.2 validation F1 points less, inside the 0.5 tolerance
    assert bench["summary"]["chosen"]["label"] == "int8"
    assert bench_speed(bench)["variant"] == "int8" and bench_speed(bench)["docs_per_second"] == 9.0
    bench["summary"]["chosen"]["label"] = "fp32"  # as if int8 had lost more than the tolerance on validation
    assert bench_speed(bench)["variant"] == "fp32" and bench_speed(bench)["docs_per_second"] == 4.0
    assert bench_speed(None) is None


def test_compare_writes_the_matrix_as_a_sensitivity_view_beside_the_choice(tmp_path):
    runs = tmp_path / "runs"
    minilm = make_fixture_run(runs, "minilm-20260101-000000", seed=0)
    crf = make_fixture_run(runs, "crf-20260101-000000", seed=2, model="crf")
    write_record(minilm / "bench.json", "bench", bench_json(4.0))
    (minilm / "model").mkdir()
    (minilm / "model" / "model.safetensors").write_bytes(b"x" * 2**20)
    (minilm / "model" / "onnx").mkdir()
    (minilm / "model" / "onnx" / "model.onnx").write_bytes(b"x" * 2**20)  # bench's export: not the model's size
    config = CompareConfig(resamples=50, figures=False, criteria_weights="f1=1")
    comparison = read_json(compare_runs([minilm, crf], tmp_path, config))
    decision = comparison["decision"]
    f1 = {m["run"]: m["selection"]["micro"]["f1"] for m in comparison["models"]}
    assert (f1[crf.name], f1[minilm.name]) == (0.54, pytest.approx(0.4286, abs=1e-4))  # F1 alone picks the CRF
    assert decision["winner"] == crf.name and decision["weights"] == {
        "f1": 1.0,
        "speed": 0.0,
        "rare": 0.0,
        "memory": 0.0,
    }
    # the CRF has no bench.json, so it cannot show it meets the throughput requirement: minilm is chosen
    assert comparison["best"]["overall"] == comparison["selection"]["chosen"] == minilm.name
    assert (decision["differs"], decision["winner_meets_requirements"]) == (True, False)
    rows = {row["run"]: row for row in decision["rows"]}
    assert rows[minilm.name]["model_size_mb"] == 1.0 and rows[crf.name]["model_size_mb"] is None
    assert rows[minilm.name]["values"]["speed"] == 9.0 and rows[crf.name]["missing"] == ["speed", "memory"]
    rare = comparison["models"][0]["selection"]["rare_f1"]
    assert rows[minilm.name]["values"]["rare"] == rare == comparison["models"][0]["selection"]["tiers"]["rare"]


def test_compare_rejects_a_negative_criteria_weight_on_the_command_line(tmp_path, caplog):
    run = make_fixture_run(tmp_path / "runs", "minilm-20260101-000000")
    assert main(["compare", str(run), "--output-dir", str(tmp_path), "--criteria-weights", "f1=1,speed=-1"]) == 2
    assert "the weight of speed is -1; weights are 0 or more" in caplog.text
    assert not (tmp_path / "comparison").exists()


# --- the choice: requirements, then accuracy -----------------------------------------------------------------

DEFAULT_REQUIREMENTS = requirements(CompareConfig())


def test_the_default_requirements_are_10000_notes_in_8_hours_and_4096_mb_and_zero_turns_one_off():
    throughput, memory = DEFAULT_REQUIREMENTS
    assert throughput["name"] == "throughput" and throughput["limit"] == pytest.approx(10000 / (8 * 3600))  # 0.347
    assert (throughput["notes"], throughput["hours"], throughput["at_most"]) == (10000, 8.0, False)
    assert (memory["name"], memory["limit"], memory["at_most"]) == ("memory", 4096.0, True)
    stated = requirements(CompareConfig(throughput_notes=0, max_memory_mb=0, min_precision=0.9))
    assert [(r["name"], r["limit"]) for r in stated] == [("precision", 0.9)]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"throughput_hours": 0}, r"--throughput-hours 0 is out of range: allowed > 0$"),
        ({"throughput_notes": -1}, r"--throughput-notes -1 is out of range: allowed >= 0$"),
        ({"max_memory_mb": -1}, r"--max-memory-mb -1 is out of range: allowed >= 0$"),
        ({"min_precision": 1.5}, r"--min-precision 1.5 is out of range: allowed in \[0, 1\]$"),
        ({"credible": 0.3}, r"--credible 0.3 is out of range: allowed in \[0.5, 1\]$"),
    ],
)
def test_requirements_that_cannot_be_met_or_read_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        CompareConfig(**settings)


def counts(tp: list[int], entities: int = 10) -> metrics.Counts:
    """One type; every document has `entities` gold and `entities` predicted spans, `tp` of them exact."""
    column = np.array(tp).reshape(-1, 1)
    return metrics.Counts(
        [f"doc{i:02d}" for i in range(len(tp))], ["Disease"], column, entities - column, entities - column
    )


def candidates(specs: dict[str, tuple[list[int], float | None, float | None]]) -> tuple[list[dict], list[dict]]:
    """Model rows from per-document true positives on validation (with the docs/s and MB bench would give), and
    the real paired bootstrap between them: what `compare` hands `select`."""
    by_run = {run: counts(tp) for run, (tp, _, _) in specs.items()}
    rows = []
    for run, (_, docs_per_second, memory) in specs.items():
        micro = metrics.scores_from_counts(by_run[run])["micro"]
        rows.append(model(run, micro["f1"], 0.2, docs_per_second, memory, precision=micro["precision"]))
    f1 = {row["run"]: row["selection"]["micro"]["f1"] for row in rows}
    pairs, unpaired = pairwise(by_run, f1, "validation", AnalysisConfig(resamples=1000, seed=42))
    assert not unpaired
    return rows, pairs


def test_a_faster_model_wins_the_weighted_matrix_but_the_more_accurate_meets_every_requirement_and_is_chosen():
    # 20 validation documents: accurate finds 7 of 10 entities in each, fast 5 (F1 0.70 against 0.50)
    rows, pairs = candidates({"accurate": ([7] * 20, 5.0, 1000.0), "fast": ([5] * 20, 20.0, 500.0)})
    chosen = select(rows, pairs, DEFAULT_REQUIREMENTS, 0.95)
    assert [(row["run"], row["validation_f1"], row["eligible"]) for row in chosen["candidates"]] == [
        ("accurate", 0.7, True),
        ("fast", 0.5, True),
    ]
    assert chosen["versus"] == [{"run": "fast", "p_better": 1.0, "paired": True, "credible": True}]
    assert (chosen["chosen"], chosen["basis"], chosen["tied"]) == ("accurate", "credibly_most_accurate", ["accurate"])
    # the matrix under the default weights: accurate 0.4 + 0.3 * 5/20 + 0.2 + 0.1 * 500/1000 = 0.725;
    # fast 0.4 * 0.5/0.7 + 0.3 + 0.2 + 0.1 = 0.886: the weights would pick the faster model
    matrix = against_choice(decision_matrix(rows, DEFAULT, "validation"), chosen)
    assert {row["run"]: row["total"] for row in matrix["rows"]} == {"accurate": 0.725, "fast": 0.8857}
    assert (matrix["winner"], matrix["differs"], matrix["winner_meets_requirements"]) == ("fast", True, True)
    differs = {row["name"]: row["differs"] for row in matrix["alternatives"]}
    assert differs == {
        "F1 only": False,
        "speed only": True,
        "rare-tier F1 only": False,  # equal rare-tier F1: the tie goes to the higher validation F1
        "memory only": True,
        "an equal weighting": True,
    }


def test_two_candidates_not_credibly_different_the_faster_wins():
    # accurate finds one entity more than near in 4 documents, near one more than accurate in 3 others:
    # validation F1 0.62 against 0.615, a lead the bootstrap cannot tell from chance
    accurate, near = [6] * 20, [6] * 20
    accurate[:4], near[4:7] = [7] * 4, [7] * 3
    rows, pairs = candidates({"accurate": (accurate, 2.0, 1500.0), "near": (near, 6.0, 900.0)})
    chosen = select(rows, pairs, DEFAULT_REQUIREMENTS, 0.95)
    (versus,) = chosen["versus"]
    assert versus["p_better"] == pytest.approx(0.577, abs=0.001) and versus["credible"] is False
    assert (chosen["most_accurate"], chosen["tied"]) == ("accurate", ["accurate", "near"])
    assert (chosen["chosen"], chosen["basis"]) == ("near", "fastest_of_tied")  # 6 docs/s against 2
    # a lead counted credible from P 0.55 would keep the more accurate
    assert select(rows, pairs, DEFAULT_REQUIREMENTS, 0.55)["chosen"] == "accurate"
    # without a paired test (their documents differ) a lead cannot be shown credible either: the faster wins
    unpaired = select(rows, [], DEFAULT_REQUIREMENTS, 0.55)
    assert unpaired["versus"] == [{"run": "near", "p_better": None, "paired": False, "credible": False}]
    assert unpaired["chosen"] == "near"


def test_a_requirement_excludes_the_most_accurate_and_the_record_says_which_with_its_value_and_limit():
    rows, pairs = candidates(
        {"large": ([8] * 20, 3.0, 6144.0), "small": ([6] * 20, 4.0, 1200.0), "slow": ([7] * 20, 0.2, 800.0)}
    )
    chosen = select(rows, pairs, DEFAULT_REQUIREMENTS, 0.95)
    assert chosen["failed"] == [
        {"run": "large", "requirement": "memory", "value": 6144.0, "limit": 4096.0, "note": None},
        {
            "run": "slow",
            "requirement": "throughput",
            "value": 0.2,
            "limit": pytest.approx(0.3472, abs=1e-4),
            "note": None,
        },
    ]
    assert [row["eligible"] for row in chosen["candidates"]] == [False, False, True]  # large, slow, small
    assert (chosen["chosen"], chosen["basis"], chosen["most_accurate"]) == ("small", "only_eligible", "small")
    strict = requirements(CompareConfig(min_precision=0.65))  # validation precision: large 0.8, slow 0.7, small 0.6
    assert [f["requirement"] for f in select(rows, pairs, strict, 0.95)["failed"] if f["run"] == "small"] == [
        "precision"
    ]
    assert select(rows, pairs, strict, 0.95)["chosen"] is None
    assert select(rows, pairs, strict, 0.95)["basis"] == "none_eligible"


def test_a_run_without_a_bench_cannot_show_it_meets_throughput_or_memory():
    rows, pairs = candidates({"crf": ([8] * 20, None, None), "minilm": ([6] * 20, 4.0, 700.0)})
    chosen = select(rows, pairs, DEFAULT_REQUIREMENTS, 0.95)
    assert chosen["not_benchmarked"] == ["crf"]
    assert [(f["requirement"], f["value"], f["note"]) for f in chosen["failed"]] == [
        ("throughput", None, "not benchmarked"),
        ("memory", None, "not benchmarked"),
    ]
    assert chosen["chosen"] == "minilm"
    # without requirements on bench numbers the CRF is eligible, credibly the most accurate, and chosen
    unmeasured = requirements(CompareConfig(throughput_notes=0, max_memory_mb=0))
    assert select(rows, pairs, unmeasured, 0.95)["chosen"] == "crf"


def test_compare_without_any_benchmarked_run_chooses_none_and_says_why(tmp_path, caplog):
    runs = tmp_path / "runs"
    minilm = make_fixture_run(runs, "minilm-20260101-000000", seed=0)
    crf = make_fixture_run(runs, "crf-20260101-000000", seed=2, model="crf")
    with caplog.at_level(logging.WARNING):
        comparison = read_json(compare_runs([minilm, crf], tmp_path, CompareConfig(resamples=50, figures=False)))
    assert comparison["best"]["overall"] is None and comparison["selection"]["basis"] == "none_eligible"
    assert comparison["selection"]["not_benchmarked"] == [crf.name, minilm.name]  # validation F1 order
    assert "no run meets every deployment requirement" in caplog.text
    assert f"{crf.name}: throughput (not benchmarked)" in caplog.text
