"""Render executed notebooks into the report site and PDF, with Quarto or with an offline renderer.

Both renderers consume the same executed notebooks and never execute them again:

- Quarto (when `quarto` is on PATH): the book project of the top-level `_quarto.yml`, filled in with
  this build's pages and version, rendered to HTML and Typst PDF.
- Offline (always available): nbconvert turns each notebook into an HTML page with a navigation
  bar and the version string; for the PDF, nbconvert's plain HTML bodies go through pandoc
  (`pypandoc-binary`) to Typst source, which the `typst` package compiles.

Tables carry the class `sortable`: in the HTML site a small inline script sorts them by a click
on a column header; the PDF gets the same table, static.
"""

from __future__ import annotations

import html
import logging
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import ConfigError, MissingInputError
from pipeline.core.files import atomic_write_text

log = logging.getLogger(__name__)
QUARTO_TEMPLATE = Path(__file__).resolve().parents[2] / "_quarto.yml"


def report_title(corpus: str = "") -> str:
    """The report's title, naming the corpus it was built on (the data summary's `corpus`)."""
    return (
        f"{corpus} named-entity recognition: Phase 1 report" if corpus else "Named-entity recognition: Phase 1 report"
    )


SORTABLE_SCRIPT = """<script>
// Click a column header of a table.sortable to sort its rows (numbers numerically).
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (header, column) {
    header.style.cursor = "pointer";
    header.title = "click to sort";
    header.addEventListener("click", function () {
      var body = table.tBodies[0];
      var ascending = header.dataset.order !== "asc";
      header.dataset.order = ascending ? "asc" : "desc";
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].textContent.trim(), y = b.cells[column].textContent.trim();
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
</script>"""

PAGE_STYLE = """<style>
nav.report-nav { font-family: sans-serif; padding: 0.6em 1em; background: #f3f4f6; border-bottom: 1px solid #d1d5db; }
nav.report-nav a { margin-right: 1.2em; }
nav.report-nav a.current { font-weight: bold; }
.report-version { font-family: sans-serif; font-size: 0.85em; color: #4b5563; padding: 0.3em 1em; }
</style>"""

TYPST_PREAMBLE = """#set document(title: "{title} {version}")
#set page(paper: "a4", margin: 2cm, numbering: "1",
  footer: context [#text(size: 8pt)[{title} · version {version} #h(1fr) #counter(page).display()]])
#set text(size: 10pt)
#show table: set text(size: 7.5pt)
#show raw: set text(size: 7.5pt)
#show heading.where(level: 1): it => {{ pagebreak(weak: true); it }}
#show image: it => box(width: 100%, it)
#align(center + horizon)[#text(size: 22pt)[{title}] \\ #v(1em) #text(size: 12pt)[version {version}]]
#pagebreak()
#outline(depth: 1)
"""


@dataclass(frozen=True)
class Page:
    """One page of the report: an executed notebook and where it appears in the navigation."""

    slug: str  # file stem of the page: index, data, comparison, ..., model-<run>, reproduce
    title: str
    notebook: Path
    appendix: bool = False  # after the chapters; Quarto numbers it as an appendix


@dataclass(frozen=True)
class RenderResult:
    renderer: str  # "quarto" or "offline (nbconvert + pandoc + typst)"
    site_dir: Path
    pdf: Path
    pages: tuple[Path, ...]


def quarto_available() -> bool:
    return shutil.which("quarto") is not None


def render_report(
    pages: Sequence[Page], out_dir: Path, version: str, renderer: str = "auto", corpus: str = ""
) -> RenderResult:
    """Render with Quarto when asked for or available (`auto`), otherwise offline."""
    if renderer not in ("auto", "quarto", "offline"):
        raise ConfigError(f"unknown renderer {renderer!r}; choose auto, quarto or offline")
    if renderer == "quarto" and not quarto_available():
        raise MissingInputError("renderer 'quarto' asked for, but `quarto` is not on PATH")
    if renderer == "quarto" or (renderer == "auto" and quarto_available()):
        return render_quarto(pages, out_dir, version, corpus)
    return render_offline(pages, out_dir, version, corpus)


def pdf_name(version: str, corpus: str = "") -> str:
    """`report-<corpus>-<version>.pdf`, the corpus name reduced to letters, digits and dashes."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", corpus).strip("-")
    return f"report-{slug}-{version}.pdf" if slug else f"report-{version}.pdf"


# --- offline: nbconvert HTML site ---------------------------------------------------------------


def navigation(pages: Sequence[Page], current: str) -> str:
    links = [
        f'<a href="{page.slug}.html"'
        + (' class="current"' if page.slug == current else "")
        + f">{html.escape(page.title)}</a>"
        for page in pages
    ]
    return '<nav class="report-nav">' + "".join(links) + "</nav>"


def decorate_page(page_html: str, pages: Sequence[Page], current: Page, version: str, corpus: str = "") -> str:
    """Add the title, the navigation bar, the version string and the table-sorting script."""
    header = (
        navigation(pages, current.slug)
        + f'<div class="report-version">{html.escape(report_title(corpus))} · version {html.escape(version)}</div>'
    )
    page_html = re.sub(
        r"<title>.*?</title>",
        f"<title>{html.escape(current.title)} · {html.escape(version)}</title>",
        page_html,
        count=1,
        flags=re.S,
    )
    page_html = page_html.replace("</head>", PAGE_STYLE + "</head>", 1)
    # require.js and MathJax from a CDN: the pages use neither, and the site must work offline
    page_html = re.sub(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>', "", page_html)
    page_html = re.sub(r"(<body[^>]*>)", lambda match: match.group(1) + header, page_html, count=1)
    footer = f'<div class="report-version">version {html.escape(version)}</div>'
    return page_html.replace("</body>", footer + SORTABLE_SCRIPT + "</body>", 1)


# nbconvert warns of every image its lab template leaves without alt text; with_alt_text puts the text
# back and names the images that really lack it, so its own warning goes to a quiet logger
NBCONVERT_LOG = logging.getLogger("pipeline.reporting.render.nbconvert")
NBCONVERT_LOG.setLevel(logging.ERROR)


def notebook_html(notebook: Path, template: str) -> str:
    """The notebook's outputs as HTML (code cells hidden: the report shows results, not code)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name=template,
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        log=NBCONVERT_LOG,
    )
    node = nbformat.read(notebook, as_version=4)
    body, _ = exporter.from_notebook_node(node)
    return with_alt_text(body, node, notebook.name)


def with_alt_text(body: str, node: Any, name: str) -> str:
    """Each PNG's `alt` output metadata (pipeline.reporting.figures.Picture) as its <img alt>: the lab
    template drops it, and nbconvert then writes a placeholder. Outputs and images come in one order."""
    from bs4 import BeautifulSoup

    alts = [
        output.get("metadata", {}).get("image/png", {}).get("alt")
        for cell in node.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    soup = BeautifulSoup(body, "html.parser")
    images = soup.find_all("img", src=re.compile(r"^data:image/png"))
    if len(images) != len(alts):  # not one image per PNG output: leave nbconvert's placeholders
        log.warning("%s: %d images for %d PNG outputs; alternative text not set", name, len(images), len(alts))
        return body
    if None in alts:
        log.warning("%s: %d of %d figures have no alternative text", name, alts.count(None), len(alts))
    for image, alt in zip(images, alts):
        if alt:
            image["alt"] = alt
    return str(soup)


def render_site(pages: Sequence[Page], site_dir: Path, version: str, corpus: str = "") -> list[Path]:
    written = []
    for page in pages:
        page_html = decorate_page(notebook_html(page.notebook, "lab"), pages, page, version, corpus)
        path = atomic_write_text(site_dir / f"{page.slug}.html", page_html)
        path.chmod(0o644)  # a site to publish: world-readable, unlike the private temporary file it came from
        written.append(path)
    return written


# --- offline: pandoc -> Typst -> PDF ------------------------------------------------------------


def typst_source(pages: Sequence[Page], build_dir: Path, version: str, corpus: str = "") -> Path:
    """One Typst document: a title page, an outline, then each page from a new sheet."""
    import pypandoc

    body = "\n".join(notebook_html(page.notebook, "basic") for page in pages)
    # Pages repeat headings and Typst labels must be unique: drop heading ids and their anchor links.
    body = re.sub(r'<a class="anchor-link"[^>]*>.*?</a>', "", re.sub(r'\sid="[^"]*"', "", body), flags=re.S)
    media = build_dir / "media"
    typst_body = pypandoc.convert_text(
        body, "typst", format="html-native_divs", extra_args=[f"--extract-media={media}"]
    )
    typst_body = typst_body.replace(f'"{media}/', '"media/')
    preamble = TYPST_PREAMBLE.format(title=report_title(corpus), version=version)
    return atomic_write_text(build_dir / "report.typ", preamble + typst_body)


def render_pdf(pages: Sequence[Page], pdf_path: Path, build_dir: Path, version: str, corpus: str = "") -> Path:
    import typst

    source = typst_source(pages, build_dir, version, corpus)
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    typst.compile(str(source), output=str(pdf_path), root=str(build_dir))
    return pdf_path


def render_offline(pages: Sequence[Page], out_dir: Path, version: str, corpus: str = "") -> RenderResult:
    site_dir = out_dir / "site"
    written = render_site(pages, site_dir, version, corpus)
    pdf = render_pdf(pages, out_dir / pdf_name(version, corpus), out_dir / "_build", version, corpus)
    return RenderResult("offline (nbconvert + pandoc + typst)", site_dir, pdf, tuple(written))


# --- Quarto -------------------------------------------------------------------------------------


def quarto_chapters(pages: Sequence[Page], version: str, corpus: str = "") -> dict:
    """What one build adds to the top-level `_quarto.yml`: its chapters and appendices (notebook paths relative
    to the project), the title naming the corpus, the PDF name and the version in the subtitle and the footers.
    The pre-render step of a bare `quarto render` writes it as the project's metadata file; `render_quarto`
    merges it into a copy."""
    title = report_title(corpus)
    appendices = [page.notebook.name for page in pages if page.appendix]
    return {
        "book": {
            "title": title,
            "chapters": [page.notebook.name for page in pages if not page.appendix],
            **({"appendices": appendices} if appendices else {}),
            "output-file": Path(pdf_name(version, corpus)).stem,
            "page-footer": f"{title} · version {version}",
            "subtitle": f"version {version}",
        },
        "format": {
            "typst": {
                "include-before-body": {
                    "text": f"#set page(footer: align(center, text(size: 8pt)[{title} · version {version}]))"
                }
            }
        },
    }


def quarto_project(pages: Sequence[Page], version: str, site_dir: Path, corpus: str = "") -> dict:
    """The top-level `_quarto.yml` with this build's chapters, version and output folder filled in, without
    the pre- and post-render steps of a bare `quarto render` (the notebooks are executed already)."""
    import yaml

    project = yaml.safe_load(QUARTO_TEMPLATE.read_text(encoding="utf-8"))
    for key in ("pre-render", "post-render"):
        project["project"].pop(key, None)
    project.pop("metadata-files", None)
    project["project"]["output-dir"] = str(site_dir)
    chapters = quarto_chapters(pages, version, corpus)
    project["book"].update(chapters["book"])
    project["format"]["typst"].update(chapters["format"]["typst"])
    return project


def render_quarto(pages: Sequence[Page], out_dir: Path, version: str, corpus: str = "") -> RenderResult:
    import yaml

    notebooks_dir = pages[0].notebook.parent
    if any(page.notebook.parent != notebooks_dir for page in pages):
        raise ValueError("Quarto renders one project folder: every executed notebook must share a folder")
    site_dir = out_dir / "site"
    atomic_write_text(
        notebooks_dir / "_quarto.yml", yaml.safe_dump(quarto_project(pages, version, site_dir, corpus), sort_keys=False)
    )
    subprocess.run(["quarto", "render", str(notebooks_dir)], check=True)
    produced = site_dir / pdf_name(version, corpus)
    pdf = out_dir / pdf_name(version, corpus)
    if produced.exists():
        shutil.copy2(produced, pdf)
    return RenderResult("quarto", site_dir, pdf, tuple(site_dir / f"{page.slug}.html" for page in pages))
