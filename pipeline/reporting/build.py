"""`python -m pipeline report`: execute the report notebooks with papermill, then render them.

    outputs/report/<version>/notebooks/   executed notebooks (index, data, comparison, production,
                                          insights, methods, model-<run> for every analysed run, and
                                          the appendix reproduce)
    outputs/report/<version>/site/        HTML site (index.html first)
    outputs/report/<version>/report-<version>.pdf
    outputs/report/latest                 link to the newest version; earlier versions stay

`quarto render` at the project root builds the same folder through its pre-render step (the papermill
step below, into the project root, and the chapter list) and its post-render step (filing).

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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.config import ReportConfig
from pipeline.core.errors import MissingInputError, PipelineError
from pipeline.core.files import atomic_write_text
from pipeline.core.layout import Outputs, RunFolder, read_record, write_record
from pipeline.core.provenance import git_commit
from pipeline.reporting.inputs import load_comparison, load_data_summary, load_runs
from pipeline.reporting.render import Page, RenderResult, pdf_name, quarto_chapters, render_report

log = logging.getLogger(__name__)
NOTEBOOKS = Path(__file__).resolve().parents[2] / "report"
QUARTO_CHAPTERS = "_chapters.yml"  # the metadata file of the top-level _quarto.yml, written by the pre-render step
SUMMARY_PAGES = (
    ("index", "Executive summary"),
    ("data", "Data"),
    ("comparison", "Model comparison"),
    ("production", "Production readiness"),
    ("insights", "Insights"),
    ("methods", "Methods and experiments"),
)
APPENDIX_PAGES = (("reproduce", "How to reproduce"),)  # after the run pages; Quarto lists them as appendices


class NotebookError(PipelineError, ValueError):
    """A report notebook failed; the message names the notebook and the error."""


@dataclass(frozen=True)
class ReportBuild:
    version: str
    folder: Path
    rendered: RenderResult


def report_version(now: datetime | None = None, commit: str | None = None) -> str:
    """`0.1.0+ab12cd3.20261128`: package version, git short commit (or `nogit`), build date (UTC). The
    date is `SOURCE_DATE_EPOCH` when set (the reproducible-builds convention), so a rebuild of the
    same commit can keep its version across midnight."""
    commit = commit if commit is not None else (git_commit() or "nogit")
    short = commit.removesuffix("-dirty")[:7] + (".dirty" if commit.endswith("-dirty") else "")
    return f"{__version__}+{short}.{(now or build_date()):%Y%m%d}"


def build_date() -> datetime:
    """`SOURCE_DATE_EPOCH` (seconds since 1970) when set, else now; in UTC either way (one clock for the
    version); a bad value names the variable."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return datetime.now(timezone.utc)
    try:
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    except ValueError as exc:
        raise PipelineError(f"SOURCE_DATE_EPOCH={epoch!r} is not a whole number of seconds since 1970") from exc


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
    """(slug, title, source notebook, parameters) for every page: summary pages, run pages, appendices."""
    summary = {"output_dir": str(output_dir), "runs": [run.name for run in runs], "version": version}
    jobs = [(slug, title, f"{slug}.ipynb", summary) for slug, title in SUMMARY_PAGES]
    jobs += [(f"model-{run.name}", run.name, "model.ipynb", {"run_dir": str(run)}) for run in runs]
    jobs += [(slug, title, f"{slug}.ipynb", summary) for slug, title in APPENDIX_PAGES]
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


def execute_pages(
    output_dir: Path, runs: Sequence[Path], version: str, notebooks: Path, timeout: int, progress: bool = True
) -> list[Page]:
    """The papermill step: every page's notebook executed into `notebooks/<slug>.ipynb`, summary pages first;
    first of all the decision matrix every summary page reads must be there (else one line naming the command)."""
    from tqdm.auto import tqdm

    from pipeline.reporting.facts import decision

    decision(dict(load_comparison(output_dir) or {}), load_runs(output_dir, [run.name for run in runs]))
    notebooks.mkdir(parents=True, exist_ok=True)
    pages = []
    for slug, title, source, parameters in tqdm(
        notebook_jobs(output_dir, runs, version), desc="notebooks", unit="notebook", disable=not progress
    ):
        target = notebooks / f"{slug}.ipynb"
        execute_notebook(NOTEBOOKS / source, target, parameters, timeout)
        pages.append(Page(slug, title, target, appendix=slug in dict(APPENDIX_PAGES)))
    return pages


def corpus_name(output_dir: Path) -> str:
    """The corpus the prepared data names (title and PDF name); empty before `data` recorded one."""
    return str((load_data_summary(output_dir) or {}).get("corpus", ""))


def file_build(building: Path, final: Path) -> None:
    """Replace `<version>/` by the finished build and point `latest` at it; earlier versions stay."""
    shutil.rmtree(final, ignore_errors=True)
    os.replace(building, final)
    point_latest(final)


def build_report(config: ReportConfig, progress: bool = True, version: str | None = None) -> ReportBuild:
    """Execute every notebook on the pipeline's JSON, render the site and the PDF, keep old versions."""
    output_dir = Path(config.output_dir).resolve()
    runs = analysed_runs(output_dir, config.runs)
    version = version or report_version()
    final = Outputs(output_dir).report / version
    building = Outputs(output_dir).report / f".{version}.building"
    shutil.rmtree(building, ignore_errors=True)
    pages = execute_pages(output_dir, runs, version, building / "notebooks", config.notebook_timeout, progress)
    rendered = render_report(pages, building, version, config.renderer, corpus_name(output_dir))
    file_build(building, final)
    return ReportBuild(version, final, relocated(rendered, building, final))


# --- a bare `quarto render` at the project root: its pre-render and post-render steps -------------------


def renders_whole_project() -> bool:
    """Quarto sets QUARTO_PROJECT_RENDER_ALL for `quarto render` of the whole project; rendering one file
    (or a preview) leaves it unset, and then the steps keep the notebooks executed last."""
    return bool(os.environ.get("QUARTO_PROJECT_RENDER_ALL"))


def project_dir() -> Path:
    return Path(os.environ.get("QUARTO_PROJECT_DIR") or Path.cwd()).resolve()


def quarto_pre_render(config: ReportConfig, progress: bool = True, version: str | None = None) -> Path | None:
    """Execute every page into the project root (a book's index must lie there) and write `_chapters.yml`,
    the project's metadata file: Quarto >= 1.5 reads the project again after this step. Returns that file;
    None when Quarto renders a single file."""
    import yaml

    if not renders_whole_project():
        log.info("quarto renders part of the project: the notebooks executed last are kept")
        return None
    root = project_dir()
    output_dir = (root / config.output_dir).resolve()
    version = version or report_version()
    pages = execute_pages(
        output_dir, analysed_runs(output_dir, config.runs), version, root, config.notebook_timeout, progress
    )
    corpus = corpus_name(output_dir)
    write_record(
        Outputs(output_dir).quarto_build,
        "quarto_build",
        {
            "version": version,
            "corpus": corpus,
            "pages": [{"slug": p.slug, "title": p.title, "notebook": p.notebook.name} for p in pages],
        },
    )
    chapters = quarto_chapters(pages, version, corpus)
    return atomic_write_text(root / QUARTO_CHAPTERS, yaml.safe_dump(chapters, sort_keys=False, allow_unicode=True))


def quarto_post_render(config: ReportConfig) -> Path | None:
    """File Quarto's site, the PDF and the executed notebooks under `outputs/report/<version>/`, as
    `python -m pipeline report` does, and point `latest` at it. Returns that folder; None for a partial render."""
    if not renders_whole_project():
        return None
    root = project_dir()
    output_dir = (root / config.output_dir).resolve()
    pending = read_record(Outputs(output_dir).quarto_build, "quarto_build")
    version = pending["version"]
    site = Path(os.environ.get("QUARTO_PROJECT_OUTPUT_DIR") or root / "_site").resolve()
    if not site.is_dir():
        raise MissingInputError(f"{site}: Quarto's output folder not found; run `quarto render` at {root}")
    building = Outputs(output_dir).report / f".{version}.building"
    shutil.rmtree(building, ignore_errors=True)
    (building / "notebooks").mkdir(parents=True)
    for page in pending["pages"]:
        shutil.copy2(root / page["notebook"], building / "notebooks" / page["notebook"])
    shutil.copytree(site, building / "site")
    pdf = site / pdf_name(version, pending.get("corpus", ""))
    if pdf.exists():
        shutil.copy2(pdf, building / pdf.name)
    final = Outputs(output_dir).report / version
    file_build(building, final)
    return final


def relocated(result: RenderResult, old: Path, new: Path) -> RenderResult:
    """The same render result after its folder moved from `old` to `new`."""

    def move(path: Path) -> Path:
        return new / path.relative_to(old)

    return RenderResult(result.renderer, move(result.site_dir), move(result.pdf), tuple(map(move, result.pages)))
