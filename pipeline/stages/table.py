"""The table that `python -m pipeline all` runs (`plan_stages`): one `Stage` per step, in run order, with
the command it mirrors, the stages it needs, the config it runs with, its entry modules, its action and
whether it runs in a fresh process (training and benchmarking, so the peak memory they record is their
own). Planning runs and writes nothing."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.config import (
    AnalysisConfig,
    BenchConfig,
    CombineConfig,
    CompareConfig,
    CRFConfig,
    DataConfig,
    PipelineConfig,
    ReportConfig,
    TrainConfig,
    make_config,
)
from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json
from pipeline.core.layout import Outputs, RunFolder
from pipeline.modeling.registry import model_label
from pipeline.stages.cache import PACKAGE, imported_names, module_file, report_sources_hash, source_fingerprint

Action = Callable[[], Mapping[str, str | Path]]  # runs the stage, returns its outputs as {label: path}


@dataclass(frozen=True)
class Stage:
    """One row of the table that `all` runs."""

    name: str
    command: str  # the CLI command it mirrors
    needs: tuple[str, ...]  # upstream stages whose identities enter the key
    config: Any
    entry: tuple[str, ...]  # modules whose code (and what they import) the stage runs
    action: Action
    fresh_process: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # other inputs, named as a reason says them


Overrides = dict[str, dict[str, Any]]  # config class name -> field values, e.g. {"TrainConfig": {"epochs": 1}}


def stage_config(cls: type, profile: str, overrides: Overrides | None, **values: Any) -> Any:
    """A stage's config: profile values, then the pipeline's values, then explicit overrides."""
    return make_config(cls, profile, **{**values, **(overrides or {}).get(cls.__name__, {})})


def train_configs(config: PipelineConfig, profile: str, overrides: Overrides | None = None) -> list[tuple[str, Any]]:
    """(stage name, config) for every run to train: each model, the first one's truncate twin, the CRF."""
    out = config.output_dir
    runs: list[tuple[str, Any]] = [
        (f"train-{model_label(model)}", stage_config(TrainConfig, profile, overrides, model=model, output_dir=out))
        for model in config.models
    ]
    if config.truncate_twin and config.models:
        runs.insert(
            1,
            (
                f"train-{model_label(config.models[0])}-truncate",
                stage_config(
                    TrainConfig,
                    profile,
                    overrides,
                    model=config.models[0],
                    long_docs="truncate",
                    max_length=512,
                    output_dir=out,
                ),
            ),
        )
    if config.crf:
        runs.append(("train-crf", stage_config(CRFConfig, profile, overrides, output_dir=out)))
    return runs


def upstream_output(output_dir: str, stage: str, label: str) -> Path:
    """An output of an upstream stage, from the record the runner wrote or reused before this stage
    runs (read from disk, so that an action in a fresh process can look it up too)."""
    return Path(read_json(Outputs(output_dir).stage(stage))["outputs"][label])


# The actions: module-level functions bound with `partial`, so that a fresh process can unpickle them;
# each imports its stage's code only when it runs, so planning (and --dry-run) stays light.


def prepare_data_stage(config: DataConfig, progress: bool) -> dict[str, Path]:
    from pipeline.data.prepare import prepare_data
    from pipeline.modeling.features import length_measure

    prepare_data(config, length_measure(config), progress=progress)
    return {"summary": Outputs(config.output_dir).summary}


def train_stage(config: TrainConfig) -> dict[str, Path]:
    from pipeline.training.train import train_run

    return {"run_dir": train_run(config)}


def crf_stage(config: CRFConfig) -> dict[str, Path]:
    from pipeline.training.train_crf import train_crf

    return {"run_dir": train_crf(config)}


def leak_crf_stage(config: CRFConfig, output_dir: str, document_stage: str) -> dict[str, Path]:
    """The row-split CRF with the c1/c2 the document-split CRF chose on its validation set: only the split
    differs between the two runs the leak compares, and the grid is not paid twice."""
    from pipeline.core.layout import read_metrics

    selected = read_metrics(upstream_output(output_dir, document_stage, "run_dir"))["selected"]
    return crf_stage(dataclasses.replace(config, c1=[selected["c1"]], c2=[selected["c2"]]))


def combine_stage(config: CombineConfig, transformer_stage: str, crf_stage: str) -> dict[str, Path]:
    from pipeline.training.combine import combine_runs

    transformer = upstream_output(config.output_dir, transformer_stage, "run_dir")
    crf = upstream_output(config.output_dir, crf_stage, "run_dir")
    recorded = dataclasses.replace(config, run=transformer.name, crf_run=crf.name)  # what config.json says
    return {"run_dir": combine_runs(recorded, transformer, crf)}


def combination_stages(config: PipelineConfig, profile: str, overrides: Overrides | None) -> list[Stage]:
    """train-combined: the first model averaged with the CRF (with --crf and --combine), after both trained."""
    if not (config.combine and config.crf and config.models):
        return []
    transformer, crf = f"train-{model_label(config.models[0])}", "train-crf"
    combine = stage_config(
        CombineConfig, profile, overrides, output_dir=config.output_dir, run=transformer, crf_run=crf
    )
    action = partial(combine_stage, combine, transformer, crf)
    return [
        Stage(
            "train-combined",
            "combine",
            (transformer, crf),  # the transformer first: its bench is what bench-combined also needs
            combine,
            ("pipeline.training.combine",),
            action,
            fresh_process=True,
        )
    ]


def analyze_stage(output_dir: str, run_stage: str, config: AnalysisConfig) -> dict[str, Path]:
    from pipeline.evaluation.analyze import analyze_run

    run_dir = upstream_output(output_dir, run_stage, "run_dir")
    return {"analysis": analyze_run(run_dir, config), "policy": RunFolder(run_dir).policy}


def bench_stage(output_dir: str, run_stage: str, config: BenchConfig, progress: bool) -> dict[str, Path]:
    from pipeline.serving.bench import bench_run

    return {"bench": bench_run(upstream_output(output_dir, run_stage, "run_dir"), config, progress)}


def compare_stage(output_dir: str, run_stages: list[str], config: CompareConfig) -> dict[str, Path]:
    from pipeline.evaluation.compare import compare_runs

    run_dirs = [upstream_output(output_dir, name, "run_dir") for name in run_stages]
    return {"comparison": compare_runs(run_dirs, output_dir, config)}


def report_stage(config: ReportConfig, run_stages: list[str], version: str, progress: bool) -> dict[str, Path]:
    from pipeline.reporting.build import build_report

    runs = [upstream_output(config.output_dir, name, "run_dir").name for name in run_stages]
    return {"report": build_report(dataclasses.replace(config, runs=runs), progress=progress, version=version).folder}


def leak_data_stage(output_dir: str, config: DataConfig, progress: bool) -> dict[str, Path]:
    """Rebuild the Hugging Face set's structure from the prepared documents and split its rows."""
    from pipeline.core.files import write_jsonl
    from pipeline.data.prepare import load_prepared, prepare_data
    from pipeline.data.sources import as_hub_rows
    from pipeline.modeling.features import length_measure

    prepared = load_prepared(output_dir)
    documents = sorted((d for part in prepared.parts.values() for d in part), key=lambda d: d.id)
    write_jsonl(config.data, as_hub_rows(documents))
    prepare_data(config, length_measure(config), progress=progress)
    return {"summary": Outputs(config.output_dir).summary, "rows": Path(config.data)}


def leak_stage(output_dir: str, rows_stage: str, document_stage: str, config: AnalysisConfig) -> dict[str, Path]:
    from pipeline.evaluation.leak import measure_leak

    leak_dir = Outputs(output_dir).leak_dir
    rows_run = upstream_output(output_dir, rows_stage, "run_dir")
    document_run = upstream_output(output_dir, document_stage, "run_dir")
    return {"leak": measure_leak(rows_run, document_run, leak_dir, output_dir, config)}


def leak_stages(
    config: PipelineConfig,
    profile: str,
    overrides: Overrides | None,
    trainings: list[Stage],
    analysis: AnalysisConfig,
    progress: bool,
) -> list[Stage]:
    """leak-data, leak-train-<model>, leak: the row split of a rebuilt Hugging Face set against ours,
    for brat sources without a split of their own (a hub or JSONL source holds its own copies: split it with
    --split-by rows; a corpus's own split is kept as it is)."""
    from pipeline.data.sources import plain_brat_folder

    if not config.leak or not plain_brat_folder(config.data):
        return []
    document_stage = f"train-{model_label(config.leak_model)}"
    document = next((stage for stage in trainings if stage.name == document_stage), None)
    if document is None:
        raise ConfigError(
            f"--leak-model {config.leak_model} is not trained by this pipeline; choose crf (with --crf) or one of "
            f"--models ({', '.join(config.models)}), or turn the experiment off with --no-leak"
        )
    leak_dir = str(Outputs(config.output_dir).leak_dir)
    data = stage_config(
        DataConfig,
        profile,
        overrides,
        data=str(Outputs(config.output_dir).hub_rows),
        output_dir=leak_dir,
        split_by="rows",
        versions="all",
    )
    leak_config = dataclasses.replace(document.config, output_dir=leak_dir)
    (train,) = training_stages([(f"leak-{document_stage}", leak_config)], needs=("leak-data",))
    if isinstance(leak_config, CRFConfig):
        train = dataclasses.replace(
            train,
            needs=("leak-data", document_stage),
            action=partial(leak_crf_stage, leak_config, config.output_dir, document_stage),
        )
    return [
        Stage(
            "leak-data",
            "data",
            ("data",),
            data,
            ("pipeline.data.prepare", "pipeline.data.sources"),
            partial(leak_data_stage, config.output_dir, data, progress),
        ),
        train,
        Stage(
            "leak",
            "leak",
            (train.name, document_stage),
            analysis,
            ("pipeline.evaluation.leak",),
            partial(leak_stage, config.output_dir, train.name, document_stage, analysis),
        ),
    ]


def training_stages(trainings: list[tuple[str, Any]], needs: tuple[str, ...] = ("data",)) -> list[Stage]:
    """One training stage per run of `train_configs`, each in a fresh process."""

    def stage(name: str, config: TrainConfig | CRFConfig) -> Stage:
        entry, action = (
            (("pipeline.training.train_crf",), partial(crf_stage, config))
            if isinstance(config, CRFConfig)
            else (("pipeline.training.train",), partial(train_stage, config))
        )
        return Stage(name, "train", needs, config, entry, action, fresh_process=True)

    return [stage(name, config) for name, config in trainings]


def per_run_stages(
    trainings: list[Stage], output_dir: str, analysis: AnalysisConfig, bench: BenchConfig, progress: bool
) -> list[Stage]:
    """analyze-* for every run, then bench-* for every run (compare reads their bench.json); the bench of a
    combined run also needs its transformer part's (the variant it runs is the one that bench chose)."""

    def of(train: Stage, command: str, config: Any, action: Callable[..., Any], *args: Any) -> Stage:
        """The stage `command` of one trained run: named after it, needing it, in a fresh process for bench."""
        transformer = train.needs[:1] if command == "bench" and train.command == "combine" else ()
        return Stage(
            train.name.replace("train-", f"{command}-", 1),
            command,
            (train.name, *(need.replace("train-", "bench-", 1) for need in transformer)),
            config,
            (f"pipeline.{'evaluation.analyze' if command == 'analyze' else 'serving.bench'}",),
            partial(action, output_dir, train.name, config, *args),
            fresh_process=command == "bench",
        )

    analyzed = [of(train, "analyze", analysis, analyze_stage) for train in trainings]
    benched = [of(train, "bench", bench, bench_stage, progress) for train in trainings]
    return analyzed + benched


def report_entry() -> tuple[str, ...]:
    """The report runs `pipeline.reporting.build` and, in the notebooks' kernels, what they import."""
    from pipeline.reporting.build import NOTEBOOKS

    cells = [
        "".join(cell["source"])
        for notebook in sorted(NOTEBOOKS.glob("*.ipynb"))
        for cell in read_json(notebook)["cells"]
        if cell["cell_type"] == "code"
    ]
    imported = set().union(*(imported_names(ast.parse(cell), PACKAGE) for cell in cells))
    return ("pipeline.reporting.build", *sorted(filter(module_file, imported)))


def plan_stages(
    config: PipelineConfig, profile: str, overrides: Overrides | None = None, progress: bool = True
) -> list[Stage]:
    """The table of `all`, in run order: data, train-*, analyze-*, bench-*, compare, leak-* (brat sources),
    report; builds
    it without running or writing anything. `overrides` set fields of the stage configs beyond the
    profile (tests use it for one-epoch training on a small corpus)."""
    from pipeline.reporting.build import report_version

    out = config.output_dir
    data_config = stage_config(
        DataConfig, profile, overrides, data=config.data, output_dir=out, corpus_name=config.corpus_name
    )
    analysis = stage_config(AnalysisConfig, profile, overrides)
    comparison = stage_config(CompareConfig, profile, overrides, **dataclasses.asdict(analysis))  # + requirements
    trainings = training_stages(train_configs(config, profile, overrides))
    trainings += combination_stages(config, profile, overrides)
    per_run = per_run_stages(trainings, out, analysis, stage_config(BenchConfig, profile, overrides), progress)
    runs = [train.name for train in trainings]
    leak = leak_stages(config, profile, overrides, trainings, analysis, progress)
    report_config = stage_config(ReportConfig, profile, overrides, output_dir=out)
    version = report_version()
    return [
        Stage(
            "data",
            "data",
            (),
            data_config,
            ("pipeline.data.prepare",),
            partial(prepare_data_stage, data_config, progress),
            extra={"data source": source_fingerprint(config.data)},
        ),
        *trainings,
        *per_run,
        Stage(
            "compare",
            "compare",
            tuple(s.name for s in per_run),
            comparison,
            ("pipeline.evaluation.compare",),
            partial(compare_stage, out, runs, comparison),
        ),
        *leak,
        Stage(
            "report",
            "report",
            (*(s.name for s in per_run), "compare", *(s.name for s in leak[-1:])),
            report_config,
            report_entry(),
            partial(report_stage, report_config, runs, version, progress),
            extra={"report sources": report_sources_hash(), "report version": version},
        ),
    ]
