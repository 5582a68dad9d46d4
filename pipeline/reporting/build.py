"""`python -m pipeline report`: execute the report notebooks with papermill, then render them.

    outputs/report/<version>/notebooks/   executed notebooks (index, data, comparison, production,
                                          insights, model-<run> for every analysed run)
    outputs/report/<version>/site/        HTML site (index.html first)
    outputs/report/<version>/report-<version>.pdf
    outputs/report/latest                 link to the newest version; earlier versions stay

The version is `<package version>+<git short commit>.<YYYYmmdd>` (e.g. `0.1.0+ab12cd3.20261128`).
A build happens in a hidden folder that replaces `<version>/` only when it is complete.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config import ReportConfig
from pipeline.core.errors import MissingInputError, PipelineError
from pipeline.core.layout import Outputs, RunFolder
from pipeline.core.provenance import git_commit
from pipeline.reporting.inputs import load_data_summary
from pipeline.reporting.render import Page, RenderResult, render_report

log = logging.getLogger(__name__)
NOTEBOOKS = Path(__file__).resolve().parents[2] / "report"
SUMMARY_PAGES = (
    ("index", "Executive summary"),
    ("data", "Data"),
    ("comparison", "Model comparison"),
    ("production", "Production readiness"),
    ("insights", "Insights"),
)


class NotebookError(PipelineError, ValueError):
    """A report notebook failed; the message names the notebook and the error."""


@dataclass(frozen=True)
class ReportBuild:
    version: str
    folder: Path
    rendered: RenderResult


def report_version(now: datetime | None = None, commit: str | None = None) -> str:
    """`0.1.0+ab12cd3.20261128`: package version, git short commit (or `nogit`), build date."""
    commit = commit if commit is not None else (git_commit() or "nogit")
    short = commit.removesuffix("-dirty")[:7] + (".dirty" if commit.endswith("-dirty") else "")
    return f"{__version__}+{short}.{(now or datetime.now()):%Y%m%d}"


def analysed_runs(output_dir: str | Path, names: Sequence[str] = ()) -> list[Path]:
    """The run directories to report on: the named finished runs (a run not analysed yet gets pages
    that say which command fills them), else the newest analysed run of each kind (minilm,
    minilm-truncate, crf, ...)."""
    out = Outputs(output_dir)
    folder = out.runs
    if names:
        missing = [name for name in names if not out.run(name).metrics.exists()]
        if missing:
            raise MissingInputError(f"no finished run {', '.join(missing)} under {folder} (no metrics.json)")
        return [out.run(name).path for name in names]
    newest: dict[str, Path] = {}  # run names end in -YYYYmmdd-HHMMSS: sorting puts the newest last
    for run in (
        sorted(path for path in folder.iterdir() if RunFolder(path).analysis.exists()) if folder.is_dir() else []
    ):
        newest[re.sub(r"-\d{8}-\d{6}$", "", run.name)] = run
    found = sorted(newest.values())
    if not found:
        raise MissingInputError(
            f"no analysed run under {folder}: run `python -m pipeline analyze` first, or name the runs with --runs"
        )
    return found


def notebook_jobs(output_dir: Path, runs: Sequence[Path], version: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(slug, title, source notebook, parameters) for every page, summary pages first."""
    summary = {"output_dir": str(output_dir), "runs": [run.name for run in runs], "version": version}
    jobs = [(slug, title, f"{slug}.ipynb", summary) for slug, title in SUMMARY_PAGES]
    jobs += [(f"model-{run.name}", run.name, "model.ipynb", {"run_dir": str(run)}) for run in runs]
    return jobs


def execute_notebook(source: Path, target: Path, parameters: dict[str, Any], timeout: int) -> None:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    logging.getLogger("papermill").setLevel(logging.WARNING)  # our progress bar counts the notebooks

    try:
        # the kernel listens on localhost and would warn on every start that TCP is not encrypted
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(target.parent),
            execution_timeout=timeout,
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError as exc:
        raise NotebookError(
            f"{source.name} with {parameters}: cell {exc.exec_count} raised "
            f"{exc.ename}: {exc.evalue} (executed copy: {target})"
        ) from exc


def point_latest(folder: Path) -> Path:
    """Replace `report/latest` by a relative link to `folder`, atomically."""
    link = folder.parent / "latest"
    tmp = folder.parent / ".latest.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(folder.name, target_is_directory=True)
    os.replace(tmp, link)
    return link


def build_report(config: ReportConfig, progress: bool = True, version: str | None = None) -> ReportBuild:
    """Execute every notebook on the pipeline's JSON, render the site and the PDF, keep old versions."""
    from tqdm.auto import tqdm

    output_dir = Path(config.output_dir).resolve()
    runs = analysed_runs(output_dir, config.runs)
    version = version or report_version()
    final = Outputs(output_dir).report / version
    building = Outputs(output_dir).report / f".{version}.building"
    shutil.rmtree(building, ignore_errors=True)
    notebooks = building / "notebooks"
    notebooks.mkdir(parents=True)
    pages = []
    for slug, title, source, parameters in tqdm(
        notebook_jobs(output_dir, runs, version), desc="notebooks", unit="notebook", disable=not progress
    ):
        target = notebooks / f"{slug}.ipynb"
        execute_notebook(NOTEBOOKS / source, target, parameters, config.notebook_timeout)
        pages.append(Page(slug, title, target))
    corpus = (load_data_summary(output_dir) or {}).get("corpus", "")
    rendered = render_report(pages, building, version, config.renderer, corpus)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(building, final)
    point_latest(final)
    return ReportBuild(version, final, relocated(rendered, building, final))


def relocated(result: RenderResult, old: Path, new: Path) -> RenderResult:
    """The same render result after its folder moved from `old` to `new`."""

    def move(path: Path) -> Path:
        return new / path.relative_to(old)

    return RenderResult(result.renderer, move(result.site_dir), move(result.pdf), tuple(map(move, result.pages)))
