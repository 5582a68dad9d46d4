"""`pipeline all` stage caching: an unchanged stage is skipped, a changed input reruns it."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from pipeline.config import CRFConfig, PipelineConfig, TrainConfig, make_config
from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json
from pipeline.core.layout import Outputs
from pipeline.core.provenance import machine
from pipeline.stages import cache
from pipeline.stages.cache import code_closure, source_fingerprint
from pipeline.stages.runner import StageRunner, in_fresh_process, run_all, run_stages
from pipeline.stages.table import Stage, plan_stages, train_configs


def counting_action(tmp_path: Path, calls: list[str], label: str):
    def action() -> dict[str, Path]:
        calls.append(label)
        out = tmp_path / f"{label}.txt"
        out.write_text(label)
        return {"out": out}

    return action


def test_unchanged_stage_is_skipped_and_reports_its_outputs(tmp_path):
    calls: list[str] = []
    first = StageRunner(tmp_path, total=1, echo=lambda _: None).run(
        "train", {"lr": 1e-4}, counting_action(tmp_path, calls, "a")
    )
    second = StageRunner(tmp_path, total=1, echo=lambda _: None).run(
        "train", {"lr": 1e-4}, counting_action(tmp_path, calls, "b")
    )
    assert calls == ["a"]
    assert (first.cached, second.cached) == (False, True)
    assert second.outputs == {"out": str(tmp_path / "a.txt")}
    assert second.key == first.key


def test_a_stage_record_names_the_machine_its_time_was_measured_on(tmp_path):
    StageRunner(tmp_path, total=1, echo=lambda _: None).run("train", {"lr": 1e-4}, counting_action(tmp_path, [], "a"))
    record = read_json(tmp_path / "stages" / "train.json")
    assert record["machine"] == machine() and record["seconds"] >= 0


def test_changed_config_reruns_the_stage(tmp_path):
    calls: list[str] = []
    StageRunner(tmp_path, 1, echo=lambda _: None).run("train", {"lr": 1e-4}, counting_action(tmp_path, calls, "a"))
    again = StageRunner(tmp_path, 1, echo=lambda _: None).run(
        "train", {"lr": 2e-4}, counting_action(tmp_path, calls, "b")
    )
    assert calls == ["a", "b"]
    assert not again.cached


def test_where_a_stage_writes_and_how_many_processes_share_its_search_are_not_inputs():
    one, two = CRFConfig(output_dir="a", workers=1), CRFConfig(output_dir="b", workers=2)
    assert cache.config_inputs(one) == cache.config_inputs(two)
    assert cache.config_inputs(one) != cache.config_inputs(dataclasses.replace(one, c1=[0.5]))


def test_a_changed_upstream_key_reruns_the_downstream_stage(tmp_path):
    calls: list[str] = []

    def chain(lr: float) -> None:
        runner = StageRunner(tmp_path, 2, echo=lambda _: None)
        data = runner.run("data", {"seed": 42}, counting_action(tmp_path, calls, "data"))
        runner.run("train", {"lr": lr, "data": data.key}, counting_action(tmp_path, calls, f"train{lr}"))

    chain(1e-4)
    chain(1e-4)
    chain(3e-4)
    assert calls == ["data", "train0.0001", "train0.0003"]


def test_an_upstream_rerun_that_wrote_new_outputs_reruns_the_downstream_stage(tmp_path):
    calls: list[str] = []
    runner = StageRunner(tmp_path, 2, echo=lambda _: None)
    first = runner.run("train", {"lr": 1e-4}, counting_action(tmp_path, calls, "train-a"))
    runner.run("analyze", {"run": first.identity}, counting_action(tmp_path, calls, "analyze"))
    rerun = StageRunner(tmp_path, 2, force=True, echo=lambda _: None).run(
        "train", {"lr": 1e-4}, counting_action(tmp_path, calls, "train-b")
    )
    assert rerun.key == first.key and rerun.identity != first.identity
    StageRunner(tmp_path, 2, echo=lambda _: None).run(
        "analyze", {"run": rerun.identity}, counting_action(tmp_path, calls, "analyze")
    )
    assert calls == ["train-a", "analyze", "train-b", "analyze"]


def test_training_and_benchmark_stages_run_in_a_fresh_process_so_peak_memory_is_their_own():
    assert in_fresh_process(os.getpid) != os.getpid()
    with pytest.raises(ValueError, match="unknown profile"):
        in_fresh_process(make_config, TrainConfig, "tpu")


def test_missing_output_reruns_the_stage(tmp_path):
    calls: list[str] = []
    StageRunner(tmp_path, 1, echo=lambda _: None).run("train", {"lr": 1}, counting_action(tmp_path, calls, "a"))
    (tmp_path / "a.txt").unlink()
    StageRunner(tmp_path, 1, echo=lambda _: None).run("train", {"lr": 1}, counting_action(tmp_path, calls, "a"))
    assert calls == ["a", "a"]


def test_force_reruns_an_unchanged_stage(tmp_path):
    calls: list[str] = []
    StageRunner(tmp_path, 1, echo=lambda _: None).run("s", {}, counting_action(tmp_path, calls, "a"))
    StageRunner(tmp_path, 1, force=True, echo=lambda _: None).run("s", {}, counting_action(tmp_path, calls, "a"))
    assert calls == ["a", "a"]


def test_progress_line_per_stage_says_run_or_reused(tmp_path):
    lines: list[str] = []
    for _ in range(2):
        StageRunner(tmp_path, 3, echo=lines.append).run("data", {}, counting_action(tmp_path, [], "d"))
    assert lines[0] == "[1/3] data: running"
    assert lines[1].startswith("[1/3] data: done in ")
    assert lines[2].startswith("[1/3] data: unchanged, reusing ")


def test_source_fingerprint_follows_file_contents(tmp_path):
    folder = tmp_path / "brat"
    folder.mkdir()
    (folder / "1.txt").write_text("fever")
    before = source_fingerprint(str(folder))
    assert source_fingerprint(str(folder)) == before
    (folder / "1.txt").write_text("cough")
    assert source_fingerprint(str(folder)) != before
    assert source_fingerprint("ktgiahieu/maccrobat2018_2020") == "ktgiahieu/maccrobat2018_2020"


def test_cpu_plan_trains_minilm_its_truncate_twin_and_the_crf():
    plan = train_configs(PipelineConfig(output_dir="out"), "cpu")
    assert [name for name, _ in plan] == ["train-minilm", "train-minilm-truncate", "train-crf"]
    twin = plan[1][1]
    assert isinstance(twin, TrainConfig)
    assert (twin.long_docs, twin.max_length, plan[0][1].long_docs, plan[0][1].max_length) == (
        "truncate",
        512,
        "window",
        256,
    )
    assert isinstance(plan[2][1], CRFConfig) and plan[2][1].output_dir == "out"


def test_gpu_plan_trains_the_biomedical_models():
    plan = train_configs(make_config(PipelineConfig, "gpu", output_dir="out"), "gpu")
    assert [name for name, _ in plan] == [
        "train-pubmedbert",
        "train-pubmedbert-truncate",
        "train-biobert",
        "train-bioformer16l",
        "train-crf",
    ]


CPU_STAGES = [
    "data",
    "train-minilm",
    "train-minilm-truncate",
    "train-crf",
    "train-combined",
    "analyze-minilm",
    "analyze-minilm-truncate",
    "analyze-crf",
    "analyze-combined",
    "bench-minilm",
    "bench-minilm-truncate",
    "bench-crf",
    "bench-combined",
    "compare",
    "report",
]
# a brat source adds the leak experiment before the report
BRAT_STAGES = [*CPU_STAGES[:-1], "leak-data", "leak-train-crf", "leak", "report"]


def test_the_table_lists_the_cpu_stages_in_run_order_with_commands_needs_and_fresh_processes(tmp_path):
    table = plan_stages(PipelineConfig(data="hub/dataset", output_dir=str(tmp_path)), "cpu", progress=False)
    per_run = (
        "analyze-minilm",
        "analyze-minilm-truncate",
        "analyze-crf",
        "analyze-combined",
        "bench-minilm",
        "bench-minilm-truncate",
        "bench-crf",
        "bench-combined",
    )
    assert [(stage.name, stage.command, stage.needs, stage.fresh_process) for stage in table] == [
        ("data", "data", (), False),
        ("train-minilm", "train", ("data",), True),
        ("train-minilm-truncate", "train", ("data",), True),
        ("train-crf", "train", ("data",), True),
        ("train-combined", "combine", ("train-minilm", "train-crf"), True),
        ("analyze-minilm", "analyze", ("train-minilm",), False),
        ("analyze-minilm-truncate", "analyze", ("train-minilm-truncate",), False),
        ("analyze-crf", "analyze", ("train-crf",), False),
        ("analyze-combined", "analyze", ("train-combined",), False),
        ("bench-minilm", "bench", ("train-minilm",), True),
        ("bench-minilm-truncate", "bench", ("train-minilm-truncate",), True),
        ("bench-crf", "bench", ("train-crf",), True),
        ("bench-combined", "bench", ("train-combined", "bench-minilm"), True),  # the variant its transformer runs
        ("compare", "compare", per_run, False),
        ("report", "report", (*per_run, "compare"), False),
    ]
    assert (table[0].extra, table[3].entry) == ({"data source": "hub/dataset"}, ("pipeline.training.train_crf",))


def test_report_closure_reaches_tables_through_the_notebooks_and_core_but_no_model_code(tmp_path):
    build = code_closure(["pipeline.reporting.build"])
    assert {"pipeline.reporting.render", "pipeline.core.layout", "pipeline.core.files"} <= set(build)
    report = plan_stages(PipelineConfig(data="hub/dataset", output_dir=str(tmp_path)), "cpu", progress=False)[-1]
    closure = code_closure(report.entry)  # build.py does not import the tables; the notebooks do
    assert {"pipeline.reporting.tables.formatting", "pipeline.reporting.facts", "pipeline.core.files"} <= set(closure)
    modeling = sorted({name for name in build + closure if name.startswith("pipeline.modeling")})
    # the names of the models and the early-stopping rule the Methods page replays; no model code
    assert modeling == ["pipeline.modeling", "pipeline.modeling.registry", "pipeline.modeling.stopping"]


def test_analyze_closure_holds_no_reporting_module_and_follows_from_package_import_module():
    closure = code_closure(["pipeline.evaluation.analyze"])
    assert [name for name in closure if name.startswith("pipeline.reporting")] == []
    assert {"pipeline.evaluation.figures", "pipeline.evaluation.taxonomy", "pipeline.data.tiers"} <= set(closure)


def test_closure_follows_imports_inside_functions():
    # build.py imports facts.py only inside execute_pages()
    assert "pipeline.reporting.facts" in code_closure(["pipeline.reporting.build"])


def test_closure_resolves_relative_imports_and_skips_attributes(tmp_path, monkeypatch):
    files = {
        "__init__.py": "",
        "a/__init__.py": "from . import b\n",
        "a/b.py": "from ..c import helper\n",
        "c.py": "def helper():\n    import json\n",
        "d.py": "",
    }
    for name, text in files.items():
        (tmp_path / "pipeline" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pipeline" / name).write_text(text)
    monkeypatch.setattr(cache, "PACKAGE_ROOT", tmp_path / "pipeline")
    assert code_closure(["pipeline.a"]) == ["pipeline", "pipeline.a", "pipeline.a.b", "pipeline.c"]


def test_stages_and_cli_belong_to_no_closure():
    assert code_closure(["pipeline.__main__"]) == ["pipeline", "pipeline.__main__"]  # __main__ imports cli
    assert code_closure(["pipeline.stages.runner", "pipeline.stages.table"]) == []  # nor any module of stages


def brat_source(tmp_path: Path) -> Path:
    folder = tmp_path / "brat"
    folder.mkdir()
    (folder / "1.txt").write_text("fever")
    return folder


def counted_plan(config: PipelineConfig, folder: Path, calls: list[str]) -> list[Stage]:
    """The real table with actions that only count and write a file: keys as in `all`, no training."""
    return [
        dataclasses.replace(stage, action=counting_action(folder, calls, stage.name), fresh_process=False)
        for stage in plan_stages(config, "cpu", progress=False)
    ]


@pytest.fixture
def package_copy(tmp_path, monkeypatch) -> Path:
    """A copy of the package that the code hashes read, so that a test can edit a module safely."""
    copy = tmp_path / "src" / "pipeline"
    shutil.copytree(cache.PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "PACKAGE_ROOT", copy)
    return copy


@pytest.fixture
def recorded(tmp_path, package_copy) -> PipelineConfig:
    """A pipeline whose every stage already ran (with counting actions) on a copy of the package."""
    config = PipelineConfig(data=str(brat_source(tmp_path)), output_dir=str(tmp_path / "out"))
    run_stages(counted_plan(config, tmp_path, []), config.output_dir, echo=lambda _: None)
    return config


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in the file at `path` by `new`."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))


def test_editing_a_reporting_module_reruns_only_the_report(tmp_path, package_copy, recorded):
    with (package_copy / "reporting" / "tables" / "formatting.py").open("a") as handle:
        handle.write("EDITED = True\n")
    records = {path.name: path.read_text() for path in Outputs(recorded.output_dir).stages.iterdir()}
    lines: list[str] = []
    run_stages(counted_plan(recorded, tmp_path, []), recorded.output_dir, dry_run=True, echo=lines.append)
    assert lines[-1] == "[18/18] report (report): would run: code changed (pipeline/reporting/tables/formatting.py)"
    assert all(": reuse (finished " in line for line in lines[:-1])
    assert {path.name: path.read_text() for path in Outputs(recorded.output_dir).stages.iterdir()} == records
    calls: list[str] = []
    run_stages(counted_plan(recorded, tmp_path, calls), recorded.output_dir, echo=lambda _: None)
    assert calls == ["report"]


@pytest.mark.parametrize(
    "edited, rerun",
    [
        (
            "evaluation/analyze.py",
            [
                "analyze-minilm",
                "analyze-minilm-truncate",
                "analyze-crf",
                "analyze-combined",
                "compare",
                "leak",
                "report",
            ],
        ),
        (
            "serving/bench.py",
            ["bench-minilm", "bench-minilm-truncate", "bench-crf", "bench-combined", "compare", "report"],
        ),
        ("core/files.py", BRAT_STAGES),
    ],
)
def test_an_edited_module_reruns_the_stages_whose_closure_holds_it_and_downstream(
    tmp_path, package_copy, recorded, edited, rerun
):
    with (package_copy / edited).open("a") as handle:
        handle.write("EDITED = True\n")
    planned = run_stages(counted_plan(recorded, tmp_path, []), recorded.output_dir, dry_run=True, echo=lambda _: None)
    assert [record.name for record in planned if not record.cached] == rerun
    assert f"code changed (pipeline/{edited})" in planned[BRAT_STAGES.index(rerun[0])].reason


def test_rewording_help_texts_docstrings_and_comments_reruns_no_stage(tmp_path, package_copy, recorded):
    config = package_copy / "config.py"
    edit(config, '"most training epochs (early stopping may end sooner)"', '"the most epochs a run trains"')
    edit(config, 'OUTPUT_DIR_HELP = "root of every output', 'OUTPUT_DIR_HELP = "the root of every output')
    edit(config, '"""`python -m pipeline bench`: sample', '"""The bench command: sample')
    with (package_copy / "serving" / "bench.py").open("a") as handle:
        handle.write("# a comment\n")
    edit(package_copy / "evaluation" / "analyze.py", '"""`python -m pipeline analyze', '"""`analyze')
    planned = run_stages(counted_plan(recorded, tmp_path, []), recorded.output_dir, dry_run=True, echo=lambda _: None)
    assert [record.name for record in planned if not record.cached] == []


def test_a_changed_default_in_a_config_class_reruns_only_the_stages_that_read_it(tmp_path, package_copy, recorded):
    edit(package_copy / "config.py", "rounds: int = option(\n        3,", "rounds: int = option(\n        4,")
    planned = run_stages(counted_plan(recorded, tmp_path, []), recorded.output_dir, dry_run=True, echo=lambda _: None)
    benches = ["bench-minilm", "bench-minilm-truncate", "bench-crf", "bench-combined"]
    assert [record.name for record in planned if not record.cached] == [*benches, "compare", "report"]
    assert planned[BRAT_STAGES.index("bench-minilm")].reason == "code changed (pipeline/config.py)"


def test_a_changed_data_source_reruns_data_and_reports_downstream_stages_as_upstream_reruns(tmp_path, recorded):
    (Path(recorded.data) / "1.txt").write_text("cough")
    planned = run_stages(counted_plan(recorded, tmp_path, []), recorded.output_dir, dry_run=True, echo=lambda _: None)
    reasons = {record.name: record.reason for record in planned}
    assert (reasons["data"], reasons["train-crf"], reasons["analyze-crf"]) == (
        "data source changed",
        "upstream data reruns",
        "upstream train-crf reruns",
    )
    assert reasons["compare"] == (
        "upstream analyze-minilm, analyze-minilm-truncate, analyze-crf, analyze-combined, bench-minilm, bench-minilm-truncate, bench-crf, bench-combined rerun"
    )


def test_dry_run_on_a_fresh_output_dir_lists_every_stage_as_new_and_writes_nothing(tmp_path, capsys):
    from pipeline.cli import main

    out, data = tmp_path / "out", brat_source(tmp_path)
    assert main(["all", "--dry-run", "--data", str(data), "--output-dir", str(out)]) == 0
    table = plan_stages(PipelineConfig(data=str(data), output_dir=str(out)), "cpu", progress=False)
    assert capsys.readouterr().out.splitlines() == [
        *(
            f"[{number}/18] {stage.name} ({stage.command}): would run: no record yet"
            for number, stage in enumerate(table, start=1)
        ),
        "all --dry-run: 18 of 18 stages would run; nothing was run",
    ]
    assert [stage.name for stage in table] == BRAT_STAGES
    assert not out.exists()


def test_the_stage_total_is_the_length_of_the_table(tmp_path):
    config = PipelineConfig(
        data="hub/dataset", output_dir=str(tmp_path / "out"), models=["minilm", "biobert"], crf=False, dry_run=True
    )
    lines: list[str] = []
    records = run_all(config, "cpu", progress=False, echo=lines.append)
    total = len(plan_stages(config, "cpu", progress=False))
    assert total == len(records) == 12  # data, 3 train, 3 analyze, 3 bench, compare, report
    assert [line.split("]")[0] for line in lines] == [f"[{number}/12" for number in range(1, 13)]


@pytest.mark.slow
def test_all_runs_every_stage_then_reuses_them_and_reruns_only_what_a_change_touches(tmp_path, monkeypatch):
    from conftest import save_tiny_model, synthetic_brat_folder

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795996800")  # one report version even if the test spans midnight

    from pipeline.stages.runner import run_all

    brat = synthetic_brat_folder(tmp_path / "brat", documents=40)
    model = save_tiny_model(tmp_path / "tiny")
    config = PipelineConfig(data=str(brat), models=[str(model)], output_dir=str(tmp_path / "out"))
    overrides = {
        "DataConfig": {"validation_size": 0.2, "test_size": 0.2},
        "TrainConfig": {"epochs": 1, "wandb": False, "max_length": 64, "overlap": 16},
        "CRFConfig": {"wandb": False, "max_iterations": 5},
    }

    def run(**changes) -> dict[str, bool]:
        merged = {name: {**values, **changes.get(name, {})} for name, values in overrides.items()}
        return {
            record.name: record.cached
            for record in run_all(config, "cpu", progress=False, echo=lambda _: None, overrides=merged)
        }

    first = run()
    benches = [name for name in first if name.startswith("bench-")]  # once pipeline.serving.bench exists
    assert list(first) == [
        "data",
        "train-tiny",
        "train-tiny-truncate",
        "train-crf",
        "train-combined",
        "analyze-tiny",
        "analyze-tiny-truncate",
        "analyze-crf",
        "analyze-combined",
        *benches,
        "compare",
        "leak-data",
        "leak-train-crf",
        "leak",
        "report",
    ]
    assert not any(first.values())
    assert all(run().values())
    changed = run(CRFConfig={"max_iterations": 6})
    assert [name for name, cached in changed.items() if not cached] == [
        "train-crf",
        "train-combined",  # the combination reads the CRF
        "analyze-crf",
        "analyze-combined",
        "bench-crf",
        "bench-combined",
        "compare",
        "leak-train-crf",  # the leak trains the same recipe, with the c1/c2 the CRF chose
        "leak",
        "report",
    ]
    assert (tmp_path / "out" / "report" / "latest" / "site" / "index.html").is_file()
    leak = read_json(tmp_path / "out" / "leak" / "leak.json")
    assert leak["rows"]["test_rows"] == 16 and leak["document"]["test_documents"] == 8  # 20% of 80 rows, 40 docs


def test_the_leak_experiment_needs_a_brat_source_and_a_trained_leak_model(tmp_path):
    hub = plan_stages(PipelineConfig(data="hub/dataset", output_dir=str(tmp_path)), "cpu", progress=False)
    assert not [stage.name for stage in hub if stage.name.startswith("leak")]
    brat = PipelineConfig(data=str(brat_source(tmp_path)), output_dir=str(tmp_path / "out"))
    leak = {stage.name: stage for stage in plan_stages(brat, "cpu", progress=False)}
    assert leak["leak"].needs == ("leak-train-crf", "train-crf")
    assert (leak["leak-data"].config.split_by, leak["leak-data"].config.versions) == ("rows", "all")
    assert leak["leak-train-crf"].config.output_dir == str(tmp_path / "out" / "leak")
    with pytest.raises(ConfigError, match=r"--leak-model biobert is not trained by this pipeline"):
        plan_stages(dataclasses.replace(brat, leak_model="biobert"), "cpu", progress=False)
