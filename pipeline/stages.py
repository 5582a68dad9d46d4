"""`python -m pipeline all`: data -> train -> analyse -> bench -> compare -> report, each stage cached.

The chain is a table (`plan_stages`): one `Stage` per step, in run order, with the command it mirrors,
the stages it needs, the config it runs with, its entry modules, its action and whether it runs in a
fresh process (training and benchmarking, so the peak memory they record is their own).

A stage's key hashes four things, recorded separately in `outputs/stages/<stage>.json` beside the key:
- config: its config object (`output_dir` aside: where, not what);
- code: the code of every module of the package that its entry modules import, directly or not
  (`code_closure`, found with `ast`, without importing); `stages.py` and `cli.py` choose what runs
  and belong to no stage, so editing `pipeline/reporting/` reruns the report only, while editing
  `pipeline/core/` reruns everything. A module counts by what runs (`code_fingerprint`): its syntax
  tree without comments, docstrings and help texts, so rewording a help text or a docstring reruns
  nothing; of `pipeline/config.py` a stage hashes only the config classes it reads (its config's and
  those its modules import), as the values of a config enter the key through the config itself;
- upstream: the identities (key and outputs) of the stages it needs;
- extra: what else it reads (the data source's fingerprint; the report's notebooks and version).
When the key matches the record and the outputs still exist, the stage is reused. A change therefore
reruns its stage and every stage downstream of it, nothing else.

`--dry-run` runs and writes nothing: it prints, per stage, `reuse` or `would run` with the reasons
(no record yet, outputs missing, --force, config changed, code changed naming the files, upstream
<name> reruns, data source changed, ...), from the components of each record.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pipeline import __version__, configure_logging
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
    check_overrides,
    make_config,
)
from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json, sha256_of
from pipeline.core.layout import SCHEMAS, Outputs, RunFolder, write_record
from pipeline.modeling.registry import model_label

Action = Callable[[], Mapping[str, str | Path]]  # runs the stage, returns its outputs as {label: path}

PACKAGE = "pipeline"
PACKAGE_ROOT = Path(__file__).resolve().parent  # read at call time, so tests can hash a copy
NOT_STAGE_CODE = ("pipeline.stages", "pipeline.cli")  # they choose what runs; editing them reruns nothing


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


@dataclass(frozen=True)
class StageRecord:
    name: str
    key: str
    outputs: dict[str, str]
    seconds: float
    cached: bool
    reason: str = ""  # why it ran (or would run); empty when reused

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


def module_file(name: str) -> Path | None:
    """The source file of a module of the package; None for a name that is not one (another
    package, an attribute imported with `from pipeline.x import y`, a module that does not exist)."""
    first, *rest = name.split(".")
    if first != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*rest)
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def module_label(name: str) -> str:
    """`pipeline/modeling/trainer.py` for `pipeline.modeling.trainer`, as a reason names it."""
    path = module_file(name)
    return f"{PACKAGE}/{path.relative_to(PACKAGE_ROOT).as_posix()}" if path else name


def imported_names(tree: ast.AST, package: str) -> set[str]:
    """Every name an import anywhere in `tree` may load, function-local ones included: for
    `from a import b`, both `a` and `a.b` (b may be a submodule); relative imports resolved
    against `package`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            prefix = parts[: len(parts) - node.level + 1] if node.level else []  # level 1: the package itself
            base = ".".join([*prefix, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def parents(name: str) -> list[str]:
    """The packages Python imports before `name` (their `__init__` runs too)."""
    parts = name.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts))]


def code_closure(entry_modules: Iterable[str]) -> list[str]:
    """The modules of the package that the entry modules import, transitively, by reading their
    source with `ast` (importing would run them); sorted names."""
    seen: set[str] = set()
    todo = list(entry_modules)
    while todo:
        name = todo.pop()
        path = module_file(name)
        if name in seen or name in NOT_STAGE_CODE or path is None:
            continue
        seen.add(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        todo += [*imported_names(ast.parse(path.read_bytes(), str(path)), package), *parents(name)]
    return sorted(seen)


CONFIG_MODULE = f"{PACKAGE}.config"


class ExplanationRemover(ast.NodeTransformer):
    """Removes from a syntax tree the text that explains code and never changes what it does: docstrings,
    the help of a config field (`option(default, help, ...)`) or of a flag (`help=...`), constants named
    `*_HELP`, and (`drop`) top-level classes and assignments of the given names."""

    def __init__(self, drop: frozenset[str] = frozenset()) -> None:
        self.drop = drop

    def visit_Module(self, node: ast.Module) -> ast.AST:
        node.body = [
            statement
            for statement in node.body
            if not (isinstance(statement, ast.ClassDef) and statement.name in self.drop)
            and not (isinstance(statement, ast.Assign) and assigned_names(statement) <= self.drop)
        ]
        return self.without_docstring(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return self.without_docstring(node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self.without_docstring(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self.without_docstring(node)

    def visit_Assign(self, node: ast.Assign) -> ast.AST | None:
        names = assigned_names(node)
        return None if names and all(name.endswith("_HELP") for name in names) else self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        function = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if function == "option" and len(node.args) > 1:
            node.args[1] = ast.Constant("")
        node.keywords = [keyword for keyword in node.keywords if keyword.arg != "help"]
        return self.generic_visit(node)

    def without_docstring(self, node: Any) -> Any:
        first = node.body[0] if node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
        return self.generic_visit(node)


def assigned_names(node: ast.Assign) -> set[str]:
    return {target.id for target in node.targets if isinstance(target, ast.Name)}


def config_classes_read(modules: Iterable[str], config: Any) -> set[str]:
    """The config classes a stage reads: its config's class and those its modules import from the config
    module, each with the classes it derives from."""
    from pipeline import config as settings

    imported = set().union(
        *(
            {name.rpartition(".")[2] for name in imported_names(ast.parse(path.read_bytes()), PACKAGE)}
            for path in filter(None, map(module_file, modules))
        )
    )
    classes = [type(config), *(getattr(settings, name) for name in imported if name in vars(settings))]
    return {
        base.__name__
        for cls in classes
        if isinstance(cls, type)
        for base in cls.__mro__
        if issubclass(base, settings.CheckedSettings)
    }


def code_fingerprint(name: str, config_classes: set[str] | None = None) -> str | None:
    """Hash of what a module of the package runs (None for no module): its syntax tree without
    explanations (`ExplanationRemover`). For the config module, `config_classes` keeps those config
    classes and leaves the others and the profiles out (None keeps all)."""
    path = module_file(name)
    if path is None:
        return None
    drop: frozenset[str] = frozenset()
    if name == CONFIG_MODULE and config_classes is not None:
        from pipeline import config as settings

        every = {
            cls.__name__
            for cls in vars(settings).values()
            if isinstance(cls, type) and issubclass(cls, settings.CheckedSettings)
        }
        drop = frozenset(every - {"CheckedSettings"} - config_classes) | {"PROFILES"}
    tree = ExplanationRemover(drop).visit(ast.parse(path.read_bytes(), str(path)))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def module_hashes(modules: Iterable[str], config: Any = None) -> dict[str, str]:
    """Hash of each module's code (`code_fingerprint`), recorded so that a reason can name the files that
    changed; `config`: the stage's config, whose classes are those of the config module that count."""
    names = sorted(modules)
    classes = config_classes_read(names, config) if config is not None else None
    hashes = {name: code_fingerprint(name, classes) for name in names}
    return {name: digest for name, digest in hashes.items() if digest}


def differing(before: Any, now: dict[str, Any]) -> list[str]:
    """Keys of `now` (then removed ones) whose values differ from `before` (a dict, else all)."""
    before = before if isinstance(before, dict) else {}
    return [k for k in now if before.get(k) != now[k]] + [k for k in before if k not in now]


class StageRunner:
    """Runs stages in order, skipping those whose key matches their record, and says so; with
    `dry_run` it only says what it would do, and why."""

    def __init__(
        self,
        output_dir: str | Path,
        total: int,
        force: bool = False,
        echo: Callable[[str], None] = print,
        dry_run: bool = False,
    ) -> None:
        self.folder = Outputs(output_dir).stages
        self.total, self.force, self.echo, self.dry_run = total, force, echo, dry_run
        self.done: list[StageRecord] = []

    def saved(self, name: str) -> dict[str, Any] | None:
        """The stage's record; one of another schema (an older pipeline) counts as none."""
        path = self.folder / f"{name}.json"
        record = read_json(path) if path.exists() else None
        return record if record and record.get("schema_version") == SCHEMAS["stage"][0] else None

    def reasons(
        self, saved: dict[str, Any] | None, key: str, inputs: dict[str, Any], modules: dict[str, str] | None
    ) -> list[str]:
        """Why the stage must run; none when its record has the key and its outputs exist."""
        if self.force:
            return ["--force"]
        if saved is None:
            return ["no record yet"]
        missing = not all(Path(p).exists() for p in saved.get("outputs", {}).values())
        changed = [] if saved.get("key") == key else self.changes(saved, inputs, modules) or ["inputs changed"]
        return ["outputs missing"] * missing + changed

    def changes(self, saved: dict[str, Any], inputs: dict[str, Any], modules: dict[str, str] | None) -> list[str]:
        """The recorded components that differ from `inputs`, as reasons."""
        before = saved.get("inputs", {})
        reasons: list[str] = []
        for part in differing(before, inputs):
            if part == "code":
                files = ", ".join(map(module_label, differing(saved.get("modules"), modules or {})))
                reasons.append(f"code changed ({files})" if files else "code changed")
            elif part == "upstream":
                reasons += self.upstream_changes(differing(before.get(part), inputs.get(part, {})))
            elif part == "extra":
                reasons += [f"{name} changed" for name in differing(before.get(part), inputs.get(part, {}))]
            else:
                reasons.append(f"{part} changed")
        return reasons

    def upstream_changes(self, names: list[str]) -> list[str]:
        """Upstream stages that ran (or would run) in this run, then those whose record changed."""
        ran = {record.name for record in self.done if not record.cached}
        rerun = [name for name in names if name in ran]
        other = [name for name in names if name not in ran]
        return [f"upstream {', '.join(rerun)} rerun{'s' * (len(rerun) == 1)}"] * bool(rerun) + [
            f"upstream {', '.join(other)} changed"
        ] * bool(other)

    def run_stage(self, stage: Stage) -> StageRecord:
        """A stage of the table, keyed by its config, its code closure, the identities of the
        stages it needs (run or reused before it) and its extra inputs."""
        closure = code_closure(stage.entry)
        done = {record.name: record for record in self.done}
        modules = module_hashes(closure, stage.config)
        inputs = {
            "config": sha256_of(config_inputs(stage.config)),
            "code": sha256_of(modules),
            "upstream": {name: done[name].identity for name in stage.needs},
            "extra": dict(stage.extra),
        }
        action = partial(in_fresh_process, stage.action) if stage.fresh_process else stage.action
        return self.run(stage.name, inputs, action, label=f"{stage.name} ({stage.command})", modules=modules)

    def run(
        self,
        name: str,
        inputs: dict[str, Any],
        action: Action,
        label: str | None = None,
        modules: dict[str, str] | None = None,
    ) -> StageRecord:
        """Reuse the stage, run it, or (dry run) say it would run; `modules` are the per-file code
        hashes to record."""
        key = sha256_of({"stage": name, "pipeline": __version__, **inputs})
        position = f"[{len(self.done) + 1}/{self.total}] {label or name}"
        saved = self.saved(name)
        reason = "; ".join(self.reasons(saved, key, inputs, modules))
        if saved is not None and not reason:
            record = StageRecord(name, key, saved["outputs"], 0.0, cached=True)
            self.echo(
                f"{position}: reuse (finished {saved.get('finished', '?')})"
                if self.dry_run
                else f"{position}: unchanged, reusing {', '.join(saved['outputs'].values()) or 'its record'} "
                f"(finished {saved.get('finished', '?')})"
            )
        elif self.dry_run:
            record = StageRecord(name, key, {}, 0.0, cached=False, reason=reason)
            self.echo(f"{position}: would run: {reason}")
        else:
            record = self.execute(name, key, inputs, modules, reason, action, position)
        self.done.append(record)
        return record

    def execute(
        self,
        name: str,
        key: str,
        inputs: dict[str, Any],
        modules: dict[str, str] | None,
        reason: str,
        action: Action,
        position: str,
    ) -> StageRecord:
        """Run the action and record the key, its components, the reason and the outputs."""
        self.echo(f"{position}: running")
        start = time.perf_counter()
        outputs = {label: str(path) for label, path in action().items()}
        seconds = time.perf_counter() - start
        write_record(
            self.folder / f"{name}.json",
            "stage",
            {
                "stage": name,
                "key": key,
                "inputs": inputs,
                "modules": modules,
                "reason": reason,
                "outputs": outputs,
                "seconds": round(seconds, 1),
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
        self.echo(f"{position}: done in {seconds:.0f} s")
        return StageRecord(name, key, outputs, seconds, cached=False, reason=reason)


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


def in_fresh_process(action: Callable[..., Any], *args: Any) -> Any:
    """Run `action(*args)` in a new Python process: the training and benchmark stages report peak
    memory, which a process that already ran other stages would overstate (RSS only grows)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_fresh_process,
        initargs=(os.getpid(),),
    ) as pool:
        return pool.submit(action, *args).result()


def start_fresh_process(parent: int) -> None:
    """Logging as in the parent, and (on Linux) die with it: a stage process orphaned by a `kill -9`
    of `all` would otherwise finish its run unrecorded, and the rerun would train it a second time."""
    configure_logging()
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


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


def run_stages(
    stages: list[Stage],
    output_dir: str | Path,
    force: bool = False,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> list[StageRecord]:
    """Every stage of the table in order; the position total is the table's length."""
    runner = StageRunner(output_dir, len(stages), force, echo, dry_run)
    for stage in stages:
        runner.run_stage(stage)
    return runner.done


def run_all(
    config: PipelineConfig,
    profile: str = "cpu",
    progress: bool = True,
    echo: Callable[[str], None] = print,
    overrides: Overrides | None = None,
) -> list[StageRecord]:
    """The whole chain; returns one record per stage: reused, run, or with `config.dry_run` what
    would happen and why (then nothing runs and nothing is written)."""
    check_overrides(overrides)
    return run_stages(
        plan_stages(config, profile, overrides, progress), config.output_dir, config.force, config.dry_run, echo
    )


def report_sources_hash() -> str:
    """The report's notebooks and Quarto template: editing them rebuilds the report."""
    from pipeline.core.files import sha256_of_files
    from pipeline.reporting.build import NOTEBOOKS
    from pipeline.reporting.render import QUARTO_TEMPLATE

    return sha256_of_files([*(p for p in NOTEBOOKS.iterdir() if p.is_file()), QUARTO_TEMPLATE])
