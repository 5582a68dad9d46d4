"""The decision matrix (Task 1.9.1): hand-worked totals, weights that change the winner, the weights flag."""

from __future__ import annotations

import pytest
from fixtures import make_fixture_run
from report_fixtures import bench_json

from pipeline.cli import main
from pipeline.config import CompareConfig, parse_weights
from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json
from pipeline.core.layout import write_record
from pipeline.evaluation.compare import bench_speed, compare_runs, decision_matrix

DEFAULT = parse_weights("f1=0.4,speed=0.3,rare=0.2,memory=0.1")


def model(run: str, f1: float, rare: float, docs_per_second: float | None, memory: float | None, split="document"):
    speed = None if docs_per_second is None else {"docs_per_second": docs_per_second, "peak_memory_mb": memory}
    return {
        "run": run,
        "split_strategy": split,
        "selection": {"micro": {"f1": f1}, "rare_f1": rare},
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
            CompareConfig(weights=text)


def test_the_speed_of_a_run_is_the_variant_bench_chose_on_validation_at_its_best_batch_size():
    bench = bench_json(4.0)  # fp32 4 docs/s; int8 9 docs/s at 0.2 validation F1 points less, inside the 0.5 tolerance
    assert bench["summary"]["chosen"]["label"] == "int8"
    assert bench_speed(bench)["variant"] == "int8" and bench_speed(bench)["docs_per_second"] == 9.0
    bench["summary"]["chosen"]["label"] = "fp32"  # as if int8 had lost more than the tolerance on validation
    assert bench_speed(bench)["variant"] == "fp32" and bench_speed(bench)["docs_per_second"] == 4.0
    assert bench_speed(None) is None


def test_compare_writes_the_matrix_and_recommends_its_winner(tmp_path):
    runs = tmp_path / "runs"
    minilm = make_fixture_run(runs, "minilm-20260101-000000", seed=0)
    crf = make_fixture_run(runs, "crf-20260101-000000", seed=2, model="crf")
    write_record(minilm / "bench.json", "bench", bench_json(4.0))
    (minilm / "model").mkdir()
    (minilm / "model" / "model.safetensors").write_bytes(b"x" * 2**20)
    (minilm / "model" / "onnx").mkdir()
    (minilm / "model" / "onnx" / "model.onnx").write_bytes(b"x" * 2**20)  # bench's export: not the model's size
    config = CompareConfig(resamples=50, figures=False, weights="f1=1")
    comparison = read_json(compare_runs([minilm, crf], tmp_path, config))
    decision = comparison["decision"]
    f1 = {m["run"]: m["selection"]["micro"]["f1"] for m in comparison["models"]}
    assert decision["winner"] == max(f1, key=f1.get) == comparison["best"]["overall"]
    assert decision["weights"] == {"f1": 1.0, "speed": 0.0, "rare": 0.0, "memory": 0.0}
    rows = {row["run"]: row for row in decision["rows"]}
    assert rows[minilm.name]["model_size_mb"] == 1.0 and rows[crf.name]["model_size_mb"] is None
    assert rows[minilm.name]["values"]["speed"] == 9.0 and rows[crf.name]["missing"] == ["speed", "memory"]
    rare = comparison["models"][0]["selection"]["rare_f1"]
    assert rows[minilm.name]["values"]["rare"] == rare == comparison["models"][0]["selection"]["tiers"]["rare"]
    speed_only = read_json(compare_runs([minilm, crf], tmp_path, CompareConfig(resamples=50, weights="speed=1")))
    assert speed_only["best"]["overall"] == minilm.name  # the only benchmarked run


def test_compare_rejects_a_negative_weight_on_the_command_line(tmp_path, caplog):
    run = make_fixture_run(tmp_path / "runs", "minilm-20260101-000000")
    assert main(["compare", str(run), "--output-dir", str(tmp_path), "--weights", "f1=1,speed=-1"]) == 2
    assert "the weight of speed is -1; weights are 0 or more" in caplog.text
    assert not (tmp_path / "comparison").exists()
