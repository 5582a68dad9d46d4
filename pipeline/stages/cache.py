"""What a stage of `all` is keyed by, and the record it leaves.

A stage's key hashes four things, recorded separately in `outputs/stages/<stage>.json` beside the key:
- config: its config object (`output_dir` aside: where, not what);
- code: the code of every module of the package that its entry modules import, directly or not
  (`code_closure`, found with `ast`, without importing); `pipeline/stages/` and `cli.py` choose what
  runs and belong to no stage, so editing `pipeline/reporting/` reruns the report only, while editing
  `pipeline/core/` reruns everything. A module counts by what runs (`code_fingerprint`): its syntax
  tree without comments, docstrings and help texts, so rewording a help text or a docstring reruns
  nothing; of `pipeline/config.py` a stage hashes only the config classes it reads (its config's and
  those its modules import), as the values of a config enter the key through the config itself;
- upstream: the identities (key and outputs) of the stages it needs;
- extra: what else it reads (the data source's fingerprint; the report's notebooks and version).
When the key matches the record and the outputs still exist, the stage is reused. A change therefore
reruns its stage and every stage downstream of it, nothing else.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.files import sha256_of

PACKAGE = "pipeline"
PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # read at call time, so tests can hash a copy
# they and their submodules choose what runs; editing them reruns nothing
NOT_STAGE_CODE = ("pipeline.stages", "pipeline.cli")


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


NOT_INPUTS = ("output_dir", "workers")  # where a stage writes; how many processes share a search (same result)


def config_inputs(config: Any) -> dict[str, Any]:
    """A config as hashed inputs: `NOT_INPUTS` are left out, as they change where or how fast, not what."""
    return {k: v for k, v in dataclasses.asdict(config).items() if k not in NOT_INPUTS}


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
        if name in seen or ".".join(name.split(".")[:2]) in NOT_STAGE_CODE or path is None:
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


def report_sources_hash() -> str:
    """The report's notebooks and Quarto template: editing them rebuilds the report."""
    from pipeline.core.files import sha256_of_files
    from pipeline.reporting.build import NOTEBOOKS
    from pipeline.reporting.render import QUARTO_TEMPLATE

    return sha256_of_files([*(p for p in NOTEBOOKS.iterdir() if p.is_file()), QUARTO_TEMPLATE])
