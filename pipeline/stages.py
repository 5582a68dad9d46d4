"""`python -m pipeline all`: data -> train -> analyse -> bench -> compare -> report, each stage cached.

Every stage has a key: the hash of its configuration and of the identities (key and outputs) of
the stages it reads (the data stage also hashes its source files). `outputs/stages/<stage>.json`
records the key and the stage's outputs; when the key is unchanged and the outputs still exist, the
stage is skipped. Training and benchmarking run in a fresh process each, so the peak memory they
record is their own.
A changed setting therefore reruns its stage and every stage downstream of it, nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pipeline import __version__, configure_logging
from pipeline.config import (AnalysisConfig, BenchConfig, CRFConfig, DataConfig, PipelineConfig, ReportConfig,
                             TrainConfig, build_config, check_overrides, model_label)
from pipeline.core.files import read_json, sha256_of, write_json
from pipeline.core.layout import Outputs

Action = Callable[[], dict[str, str]]  # runs the stage, returns its outputs as {label: path}


@dataclass(frozen=True)
class StageRecord:
    name: str
    key: str
    outputs: dict[str, str]
    seconds: float
    cached: bool

    @property
    def identity(self) -> str:
        """What downstream stages hash: the key and the outputs, so that a rerun stage that wrote a new
        run directory (same key, new name) also reruns what reads it."""
        return sha256_of({"key": self.key, "outputs": self.outputs})


def source_fingerprint(source: str) -> str:
    """Hash of a local data folder or file (names and bytes); a hub dataset id stands for itself."""
    path = Path(source)
    if not path.exists():
        return source
    digest = hashlib.sha256()
    for file in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
        digest.update(str(file.relative_to(path.parent if path.is_file() else path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def config_inputs(config: Any) -> dict[str, Any]:
    """A config as hashed inputs; `output_dir` is where, not what, so it is left out."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k != "output_dir"}


class StageRunner:
    """Runs stages in order, skipping those whose key matches their record, and says so."""

    def __init__(self, output_dir: str | Path, total: int, force: bool = False,
                 echo: Callable[[str], None] = print) -> None:
        self.folder = Outputs(output_dir).stages
        self.total, self.force, self.echo = total, force, echo
        self.done: list[StageRecord] = []

    def cached(self, name: str, key: str) -> dict[str, Any] | None:
        path = self.folder / f"{name}.json"
        if self.force or not path.exists():
            return None
        record = read_json(path)
        if record.get("key") != key or not all(Path(p).exists() for p in record.get("outputs", {}).values()):
            return None
        return record

    def run(self, name: str, inputs: dict[str, Any], action: Action) -> StageRecord:
        key = sha256_of({"stage": name, "pipeline": __version__, **inputs})
        position = f"[{len(self.done) + 1}/{self.total}] {name}"
        saved = self.cached(name, key)
        if saved is not None:
            record = StageRecord(name, key, saved["outputs"], 0.0, cached=True)
            self.echo(f"{position}: unchanged, reusing {', '.join(saved['outputs'].values()) or 'its record'} "
                      f"(finished {saved.get('finished', '?')})")
        else:
            self.echo(f"{position}: running")
            start = time.perf_counter()
            outputs = {label: str(path) for label, path in action().items()}
            seconds = time.perf_counter() - start
            write_json(self.folder / f"{name}.json", {"stage": name, "key": key, "inputs": inputs, "outputs": outputs,
                                                      "seconds": round(seconds, 1),
                                                      "finished": time.strftime("%Y-%m-%d %H:%M:%S")})
            record = StageRecord(name, key, outputs, seconds, cached=False)
            self.echo(f"{position}: done in {seconds:.0f} s")
        self.done.append(record)
        return record


Overrides = dict[str, dict[str, Any]]  # config class name -> field values, e.g. {"TrainConfig": {"epochs": 1}}


def stage_config(cls: type, profile: str, overrides: Overrides | None, **values: Any) -> Any:
    """A stage's config: profile values, then the pipeline's values, then explicit overrides."""
    return build_config(cls, None, profile, **{**values, **(overrides or {}).get(cls.__name__, {})})


def train_configs(config: PipelineConfig, profile: str, overrides: Overrides | None = None) -> list[tuple[str, Any]]:
    """(stage name, config) for every run to train: each model, the first one's truncate twin, the CRF."""
    out = config.output_dir
    runs: list[tuple[str, Any]] = [(f"train-{model_label(model)}", stage_config(TrainConfig, profile, overrides, model=model,
                                                                   output_dir=out)) for model in config.models]
    if config.truncate_twin and config.models:
        runs.insert(1, (f"train-{model_label(config.models[0])}-truncate",
                        stage_config(TrainConfig, profile, overrides, model=config.models[0], long_docs="truncate",
                                     max_length=512, output_dir=out)))
    if config.crf:
        runs.append(("train-crf", stage_config(CRFConfig, profile, overrides, output_dir=out)))
    return runs


def prepare_data_stage(config: DataConfig, progress: bool) -> dict[str, Path]:
    from pipeline.data.prepare import prepare_data
    from pipeline.modeling.features import length_measure

    prepare_data(config, length_measure(config), progress=progress)
    return {"summary": Outputs(config.output_dir).summary}


def in_fresh_process(action: Callable[..., Any], *args: Any) -> Any:
    """Run `action(*args)` in a new Python process: the training and benchmark stages report peak
    memory, which a process that already ran other stages would overstate (RSS only grows)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=configure_logging) as pool:
        return pool.submit(action, *args).result()


def train_stage(config: TrainConfig | CRFConfig) -> dict[str, Path]:
    from pipeline.training.train import train_crf, train_run

    return {"run_dir": train_crf(config) if isinstance(config, CRFConfig) else train_run(config)}


def run_all(config: PipelineConfig, profile: str = "cpu", progress: bool = True,
            echo: Callable[[str], None] = print, overrides: Overrides | None = None) -> list[StageRecord]:
    """The whole chain; returns one record per stage (cached or run). `overrides` set fields of the
    stage configs beyond the profile (tests use it for one-epoch training on a small corpus)."""
    check_overrides(overrides)
    from pipeline.evaluation.analyze import analyze_run
    from pipeline.serving.bench import bench_run
    from pipeline.evaluation.compare import compare_runs
    from pipeline.reporting.build import build_report, report_version

    data_config = stage_config(DataConfig, profile, overrides, data=config.data, output_dir=config.output_dir)
    analysis_config = stage_config(AnalysisConfig, profile, overrides)
    trainings = train_configs(config, profile, overrides)
    benched = [name for name, cfg in trainings if isinstance(cfg, TrainConfig)]
    runner = StageRunner(config.output_dir, 3 + 2 * len(trainings) + len(benched), config.force, echo)

    data = runner.run("data", {"config": config_inputs(data_config), "source": source_fingerprint(config.data)},
                      lambda: prepare_data_stage(data_config, progress))
    runs = {name: runner.run(name, {"config": config_inputs(cfg), "data": data.identity},
                             lambda cfg=cfg: in_fresh_process(train_stage, cfg)) for name, cfg in trainings}
    run_dirs = {name: Path(record.outputs["run_dir"]) for name, record in runs.items()}
    upstream = [runner.run(name.replace("train-", "analyze-", 1),
                           {"run": record.identity, "config": config_inputs(analysis_config)},
                           lambda name=name: {"analysis": analyze_run(run_dirs[name], analysis_config)})
                for name, record in runs.items()]
    # before compare: the comparison reads each run's bench.json for its speed columns
    bench_config = stage_config(BenchConfig, profile, overrides)
    upstream += [runner.run(name.replace("train-", "bench-", 1),
                            {"run": runs[name].identity, "config": config_inputs(bench_config)},
                            lambda name=name: {"bench": in_fresh_process(bench_run, run_dirs[name], bench_config,
                                                                            progress)})
                 for name in benched]
    upstream.append(runner.run("compare", {"upstream": [record.identity for record in upstream],
                                           "config": config_inputs(analysis_config)},
                               lambda: {"comparison": compare_runs(list(run_dirs.values()), config.output_dir,
                                                                   analysis_config)}))
    version = report_version()
    report_config = stage_config(ReportConfig, profile, overrides, output_dir=config.output_dir,
                                 runs=[run_dir.name for run_dir in run_dirs.values()])
    runner.run("report", {"upstream": [record.identity for record in upstream], "sources": report_sources_hash(),
                          "version": version},
               lambda: {"report": build_report(report_config, progress=progress, version=version).folder})
    return runner.done


def report_sources_hash() -> str:
    """The report's notebooks and Quarto template: editing them rebuilds the report."""
    from pipeline.core.files import sha256_of_files
    from pipeline.reporting.render import QUARTO_TEMPLATE
    from pipeline.reporting.build import NOTEBOOKS

    return sha256_of_files([*(p for p in NOTEBOOKS.iterdir() if p.is_file()), QUARTO_TEMPLATE])
