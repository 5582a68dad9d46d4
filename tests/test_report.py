"""The report: papermill runs every notebook on fixture JSON; the offline site and PDF are complete."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from report_fixtures import STUDENT, make_report_outputs

from pipeline.config import ReportConfig
from pipeline.core.errors import PipelineError
from pipeline.reporting.build import (
    APPENDIX_PAGES,
    SUMMARY_PAGES,
    analysed_runs,
    build_report,
    point_latest,
    report_version,
)
from pipeline.reporting.inputs import load_run
from pipeline.reporting.render import Page, quarto_available, quarto_project
from pipeline.reporting.tables.errors import highlighted_example

VERSION = "0.1.0+abc1234.20261128"
SUMMARY_SLUGS = [slug for slug, _ in SUMMARY_PAGES]
APPENDIX_SLUGS = [slug for slug, _ in APPENDIX_PAGES]
# every table a page must show (by its HTML id); figures are counted as <img> elements
TABLES = {
    "index": ["selection", "comparison-matrix"],
    "data": ["corpus-facts", "tiers", "types", "lengths", "conversion", "leak"],
    "comparison": [
        "selection",
        "comparison-matrix",
        "speed-accuracy",
        "decision-matrix",
        "pairwise",
        "ablation",
        "tier-f1",
        "best-per-type",
    ],
    "production": ["policy", "policy-types", "readiness", "high-risk", "high-value", "estimate", "memory"],
    "insights": [],
    "methods": ["recipes", "training", "searches", "windows-choice", "ablation-ladder", "seed-spread"],
    "reproduce": ["provenance", "versions", "stages"],
    "model": [
        "metrics",
        "validation-search",
        "per-type",
        "tier-scores",
        "error-taxonomy",
        "top-confusions",
        "thresholds",
        "calibration",
        "readiness",
        "speed",
        "match-rates",
        "error-patterns",
        "boundary-by-length",
        "estimate",
        "memory",
    ],
}
# model pages: 6 analysis figures, the training curves (not the CRF's: it has no epochs), the length figure and
# bench.png (not the CRF's: it is not benchmarked); production: the recommended CRF has no bench.png
FIGURES = {
    "index": 1,
    "data": 1,
    "comparison": 3,
    "production": 0,
    "insights": 0,
    "methods": 0,
    "reproduce": 0,
    "model": 10,
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    output_dir, runs = make_report_outputs(tmp_path_factory.mktemp("outputs"))
    build = build_report(
        ReportConfig(output_dir=str(output_dir), runs=runs, renderer="offline"), progress=False, version=VERSION
    )
    return build, runs


def page_kind(path: Path) -> str:
    return "model" if path.stem.startswith("model-") else path.stem


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.mark.slow
def test_every_notebook_is_executed_into_the_version_folder(built):
    build, runs = built
    executed = sorted(p.stem for p in (build.folder / "notebooks").glob("*.ipynb"))
    assert executed == sorted(SUMMARY_SLUGS + APPENDIX_SLUGS + [f"model-{run}" for run in runs])
    assert build.folder.name == VERSION
    assert build.rendered.renderer == "offline (nbconvert + pandoc + typst)"


@pytest.mark.slow
def test_site_has_every_page_table_and_figure(built):
    from pipeline.core.files import read_json

    build, runs = built
    recommended = read_json(build.folder.parents[1] / "comparison" / "comparison.json")["best"]["overall"]
    production_benched = "crf" not in recommended  # production shows the recommended run's bench figure and estimate
    pages = sorted(p.name for p in build.rendered.site_dir.glob("*.html"))
    assert pages == sorted(
        [f"{slug}.html" for slug in SUMMARY_SLUGS + APPENDIX_SLUGS] + [f"model-{run}.html" for run in runs]
    )
    for path in build.rendered.site_dir.glob("*.html"):
        page = soup(path)
        kind = page_kind(path)
        ids = {table.get("id") for table in page.find_all("table")}
        assert set(TABLES[kind]) <= ids, f"{path.name} lacks tables {set(TABLES[kind]) - ids}"
        benched = "crf" not in path.stem  # the fixture benchmarks the transformer runs only
        assert kind != "model" or ("windows" in ids) == benched, f"{path.name}: the windows table goes with a bench"
        figures = FIGURES[kind] - (3 if kind == "model" and not benched else 0)
        figures += 1 if kind == "production" and production_benched else 0
        assert len(page.find_all("img")) == figures, path.name
        assert "Traceback" not in page.get_text(), path.name
        placeholders = [th for th in page.find_all("th") if th.get_text() == "not measured"]
        # the CRF's model page lacks the speed and estimate tables, and so does production when it recommends a CRF
        expected = {"model": 0 if benched else 2, "production": 0 if production_benched else 1}.get(kind, 0)
        assert len(placeholders) == expected, f"{path.name} has sections without data"
        assert f"version {VERSION}" in page.get_text(), f"{path.name} does not show the version"


@pytest.mark.slow
def test_site_has_no_broken_link_or_image(built):
    build, runs = built
    site = build.rendered.site_dir
    for path in site.glob("*.html"):
        page = soup(path)
        links = [a["href"] for a in page.find_all("a", href=True) if not a["href"].startswith(("#", "http"))]
        assert len(links) >= len(SUMMARY_SLUGS) + len(runs), f"{path.name} lacks the navigation"
        for href in links:
            assert (site / href).is_file(), f"{path.name} links to missing {href}"
        assert not [
            tag
            for tag in page.find_all(["script", "link", "img"])
            if (tag.get("src") or tag.get("href") or "").startswith("http")
        ], f"{path.name} needs the network"
        for image in page.find_all("img"):
            source = image["src"]
            assert source.startswith("data:image/png;base64,") or (site / source).is_file(), path.name


@pytest.mark.slow
def test_every_figure_has_alternative_text(built):
    build, runs = built
    alts = {
        path.stem: [image.get("alt", "") for image in soup(path).find_all("img")]
        for path in build.rendered.site_dir.glob("*.html")
    }
    assert all(alt and "No description" not in alt for page in alts.values() for alt in page), alts
    assert (
        "minilm: span confidence against span accuracy, before and after temperature scaling"
        in alts[f"model-{runs[0]}"]
    )
    assert alts["data"] == ["Training mentions per entity type (log scale), coloured by tier"]
    assert (
        "minilm: loss and validation F1 per epoch; kept epoch 2 (best micro), early stopping after epoch 4 of 6 "
        "(patience 2)" in alts[f"model-{runs[0]}"]
    )
    assert "minilm: F1 and boundary-error rate by entity length" in alts[f"model-{runs[0]}"]
    assert "minilm: documents per second of every inference variant and batch size" in alts[f"model-{runs[0]}"]
    assert "Speed against accuracy of every benchmarked subject; the front joined" in alts[f"model-{runs[0]}"]
    assert alts["comparison"][-1] == "Validation loss and validation F1 per epoch of every run; the kept epoch starred"


@pytest.mark.slow
def test_index_shows_recommendation_and_intervals(built):
    from pipeline.core.files import read_json

    build, runs = built
    output_dir = build.folder.parents[1]
    analysis = read_json(output_dir / "runs" / runs[0] / "analysis" / "analysis.json")
    f1, (low, high) = analysis["scores"]["micro"]["f1"], analysis["scores"]["intervals"]["micro_f1"]
    index = soup(build.rendered.site_dir / "index.html")
    matrix = index.find("table", id="comparison-matrix")
    assert f"{f1:.3f} [{low:.3f}, {high:.3f}]" in matrix.get_text()
    assert "sortable" in matrix["class"]
    comparison = read_json(output_dir / "comparison" / "comparison.json")
    chosen = comparison["best"]["overall"]
    assert chosen == comparison["selection"]["chosen"]
    label = load_run(output_dir / "runs" / chosen).label
    assert f"Recommended model: {label}." in index.get_text()
    assert "speed was not measured for both" in index.get_text()  # the CRF has no bench.json


@pytest.mark.slow
def test_the_data_page_and_the_summary_state_the_measured_leak(built):
    from pipeline.core.files import read_json

    build, _ = built
    leak = read_json(build.folder.parents[1] / "leak" / "leak.json")
    sentence = f"copy of {leak['rows']['leaked_rows']} of its {leak['rows']['test_rows']} test rows"
    inflation = f"inflates F1 by {leak['inflation']['points']:+.1f} points"
    for page in ("index", "data"):
        text = soup(build.rendered.site_dir / f"{page}.html").get_text()
        assert sentence in text and inflation in text
    table = soup(build.rendered.site_dir / "data.html").find("table", id="leak").get_text()
    assert f"{leak['rows']['micro_f1']:.3f} [{leak['rows']['micro_f1_ci'][0]:.3f}" in table


@pytest.mark.slow
def test_the_comparison_says_which_set_chooses_and_which_is_reported(built):
    from pipeline.core.files import read_json

    build, _ = built
    comparison = read_json(build.folder.parents[1] / "comparison" / "comparison.json")
    page = soup(build.rendered.site_dir / "comparison.html")
    headers = page.find("table", id="comparison-matrix").get_text()
    assert "validation micro-F1 [95% CI] (chooses)" in headers and "test micro-F1 [95% CI] (reported)" in headers
    assert {"validation", "test"} <= {td.get_text() for td in page.find("table", id="pairwise").find_all("td")}
    chosen = load_run(build.folder.parents[1] / "runs" / comparison["best"]["overall"])
    assert "Test numbers never enter the choice" in page.get_text()
    assert f"On the test set, held out from every choice, {chosen.label} scores micro-F1" in page.get_text()


@pytest.mark.slow
def test_the_requirements_and_the_choice_on_the_index_and_comparison_pages_equal_the_json(built):
    from pipeline.core.files import read_json

    build, runs = built
    output_dir = build.folder.parents[1]
    selection = read_json(output_dir / "comparison" / "comparison.json")["selection"]
    # the fixture benchmarks the two minilm runs (int8 at 9 docs/s and 400 MB), not the CRF: the CRF, the most
    # accurate on validation, cannot show it meets the requirements; the two minilm runs are not credibly
    # different and equally fast, so the more accurate is chosen
    crf = next(row for row in selection["candidates"] if row["run"].startswith("crf"))
    assert crf["eligible"] is False and selection["not_benchmarked"] == [crf["run"]]
    assert (selection["chosen"], selection["basis"], selection["tied"]) == (runs[0], "fastest_of_tied", runs[:2])
    (versus,) = selection["versus"]
    labels = {row["run"]: load_run(output_dir / "runs" / row["run"]).label for row in selection["candidates"]}
    for page in ("index", "comparison"):
        html = soup(build.rendered.site_dir / f"{page}.html")
        table = html.find("table", id="selection")
        headers = [th.get_text() for th in table.find_all("th")]
        assert "throughput, docs/s (at least 0.347)" in headers and "peak memory, MB (at most 4,096)" in headers
        cells = {
            tr.find("td").get_text(): dict(zip(headers, [td.get_text() for td in tr.find_all("td")]))
            for tr in table.find_all("tr")[1:]
        }
        for row in selection["candidates"]:
            shown = cells[labels[row["run"]]]
            assert shown["chosen"] == ("yes" if row["run"] == selection["chosen"] else "")
            assert shown["meets every requirement"] == ("yes" if row["eligible"] else "no")
        assert cells[labels[crf["run"]]]["throughput, docs/s (at least 0.347)"] == "not benchmarked"
        text = html.get_text()
        assert "Requirements: at least 0.347 documents/s (10,000 notes within 8 hours" in text
        assert (
            f"minilm is chosen: it has the highest validation micro-F1 of the candidates that meet every "
            f"requirement, {selection['candidates'][1]['validation_f1']:.3f} ["
        ) in text
        assert (
            f"not credibly above minilm-truncate ({selection['candidates'][2]['validation_f1']:.3f}, "
            f"P(minilm>minilm-truncate)={versus['p_better']:.2f}) at the 0.95 level on validation, and none of them "
            "is faster (9.0 documents/s against minilm-truncate 9.0 documents/s)"
        ) in text
        assert f"{labels[crf['run']]} (not benchmarked, so it cannot show it meets the throughput and memory" in text


@pytest.mark.slow
def test_the_decision_matrix_is_a_sensitivity_view_on_the_comparison_page_equal_to_the_json(built):
    from pipeline.core.files import read_json

    build, _ = built
    output_dir = build.folder.parents[1]
    comparison = read_json(output_dir / "comparison" / "comparison.json")
    decision = comparison["decision"]
    labels = {row["run"]: load_run(output_dir / "runs" / row["run"]).label for row in decision["rows"]}
    html = soup(build.rendered.site_dir / "comparison.html")
    assert html.find("table", id="decision-matrix") is not None
    assert soup(build.rendered.site_dir / "index.html").find("table", id="decision-matrix") is None
    table = html.find("table", id="decision-matrix")
    cells = {tr.find("td").get_text(): [td.get_text() for td in tr.find_all("td")] for tr in table.find_all("tr")[1:]}
    headers = [th.get_text() for th in table.find_all("th")]
    assert "F1 score (×0.4)" in headers and "speed score (×0.3)" in headers and "model size (MB)" in headers
    for row in decision["rows"]:
        shown = dict(zip(headers, cells[labels[row["run"]]]))
        assert shown["weighted total"] == f"{row['total']:.3f}"
        assert shown["validation F1"] == f"{row['values']['f1']:.3f}"
        assert shown["docs/s (variant keeping F1)"] == (
            "–" if row["values"]["speed"] is None else f"{row['values']['speed']:.1f}"
        )
    text = html.get_text()
    assert (
        "A sensitivity view, not the rule" in text
        and "Weights: F1 0.4, speed 0.3, rare-tier F1 0.2, memory 0.1" in text
    )
    differs = decision["differs"] or any(alt["differs"] for alt in decision["alternatives"])
    assert ("the choice differs from the weighted decision matrix's where" if differs else "also chooses") in text


@pytest.mark.slow
def test_the_executive_summary_states_production_speed_leak_and_limits_from_the_json(built):
    from pipeline.core.files import read_json
    from pipeline.modeling.registry import MODELS

    build, _ = built
    output_dir = build.folder.parents[1]
    winner = read_json(output_dir / "comparison" / "comparison.json")["selection"]["chosen"]
    chosen = load_run(output_dir / "runs" / winner)
    text = soup(build.rendered.site_dir / "index.html").get_text()
    assert f"{chosen.label} is chosen: " in text and "validation micro-F1" in text
    always = chosen.policy["always_review"]
    assert f"The deployment policy of {chosen.label}, chosen on validation, codes the spans of " in text
    assert f"always sends {always[0]}" in text
    on_test = chosen.analysis["policy"]
    assert (
        f"On test it codes {100 * on_test['automation_rate']:.0f}% of the predicted entities automatically, at "
        f"precision {on_test['precision']:.3f}"
    ) in text
    assert f"leaves {on_test['review_spans']:,.0f} spans to review for 10,000 notes" in text
    if chosen.bench:
        summary = chosen.bench["summary"]
        assert f"reads {summary['best_ratio_to_reference']:.2f} times the pipeline's documents per second" in text
    else:
        assert f"{chosen.label} was not benchmarked: run `python -m pipeline bench --run" in text
    untrained = [name for name in MODELS if name not in {"minilm", "crf"}]
    assert f"The registered {', '.join(untrained[:-1])} and {untrained[-1]} were not trained here" in text
    assert "This build trained minilm (CPU" in text


@pytest.mark.slow
def test_model_page_sets_the_pipeline_beside_the_variants_and_says_whether_the_target_is_met(built):
    build, runs = built
    page = soup(build.rendered.site_dir / f"model-{runs[0]}.html")
    speed = page.find("table", id="speed").get_text()
    assert "transformers pipeline" in speed and "share of peak" in speed and "2.25 (2.05-2.50)" in speed
    # int8: 9.0 / 4.0 = 2.25 times the pipeline (9 / 4.4 = 2.05 to 9 / 3.6 = 2.50 over the rounds), 0.2 points
    # below fp32's 0.600, above the pipeline's 0.550; 3 of the 10 test documents cut
    assert (
        "The fastest variant within 0.5 F1 points of fp32 and of the plain transformers pipeline, int8, reads "
        "2.25 times the pipeline's documents per second (4.0 documents/s, F1 0.550), from 2.05 to 2.50 times over "
        "3 interleaved rounds: the 2.5x target (no round under 2x) is not met. "
        "The pipeline reads at most 512 wordpieces, so it cut 3 of 10 documents short; every variant here reads "
        "every word."
    ) in page.get_text()
    assert "fp32 150 GFLOP/s, bf16 150 GFLOP/s, int8 600 GOP/s" in page.get_text()
    # a 3-layer student timed in the same rounds: its row in the table, and why bench does not name it
    assert f"{STUDENT}: int8" in speed
    assert (
        f"Timed in the same rounds, student {STUDENT}: int8: 12.0 docs/s at batch 1, 1.33x the chosen subject "
        "(1.20-1.45), 3.00x the reference (2.70-3.30); validation F1 0.575, -1.5 points against this run's fp32: "
        "outside the 1-point tolerance. No student is within the 1-point tolerance on validation and faster than "
        "the chosen subject, so minilm keeps its own choice."
    ) in " ".join(page.get_text().split())
    assert "the GPU rows (and the CPU-against-GPU slowdown) need a CUDA machine" in page.get_text()
    twin = soup(build.rendered.site_dir / f"model-{runs[1]}.html")  # the truncate twin cuts them too
    assert "so does this run, which reads only the first window of each document." in twin.get_text()


@pytest.mark.slow
def test_error_examples_are_highlighted(built):
    from pipeline.core.files import read_json

    build, runs = built
    example = read_json(build.folder.parents[1] / "runs" / runs[0] / "analysis" / "analysis.json")["examples"][0]
    span = example["gold_spans"][0]
    page = soup(build.rendered.site_dir / f"model-{runs[0]}.html")
    marks = [mark.get_text() for mark in page.find_all("mark")]
    assert f"[{' '.join(example['words'][span['start'] : span['end']])}]{span['type']}" in marks


@pytest.mark.slow
def test_pdf_has_the_version_in_its_name_and_a_page_per_section(built):
    from pypdf import PdfReader

    build, runs = built
    assert build.rendered.pdf.name == f"report-{VERSION}.pdf"
    reader = PdfReader(build.rendered.pdf)
    first_lines = [page.extract_text().strip().splitlines()[0] for page in reader.pages]
    titles = ["Executive summary", "Data", "Model comparison", "Production readiness", "Insights"]
    titles += ["Methods and experiments"]
    titles += [f"{label}: {run}" for label, run in zip(("minilm", "minilm-truncate", "crf"), runs)]
    titles += ["How to reproduce"]  # the appendix, after the run pages
    assert [line for line in first_lines if line in titles] == titles  # each section starts its own page
    assert all(VERSION in page.extract_text() for page in reader.pages)


@pytest.mark.slow
def test_headless_chromium_renders_the_comparison_table(built):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium is missing: run `make browser`")
        pytest.skip("chromium not installed (`make browser` installs it)")
    build, runs = built
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            (build.rendered.site_dir / "index.html").as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    table = BeautifulSoup(dom, "html.parser").find("table", id="comparison-matrix")
    assert table is not None
    assert [row.find_all("td")[1].get_text() for row in table.find("tbody").find_all("tr")] == runs
    assert table.find("th")["title"] == "click to sort"  # set by the sorting script: JavaScript ran


@pytest.mark.skipif(not quarto_available(), reason="quarto is not on PATH; the offline renderer is tested instead")
@pytest.mark.slow
def test_quarto_renders_the_same_notebooks(built, tmp_path):
    from pipeline.reporting.render import render_quarto

    build, _ = built
    notebooks = sorted((build.folder / "notebooks").glob("*.ipynb"))
    copied = tmp_path / "notebooks"
    shutil.copytree(build.folder / "notebooks", copied)
    pages = [Page(p.stem, p.stem, copied / p.name) for p in notebooks]
    pages.sort(key=lambda page: page.slug != "index")
    result = render_quarto(pages, tmp_path, VERSION)
    assert (result.site_dir / "index.html").exists() and result.pdf.exists()


def test_quarto_project_lists_every_page_and_never_executes(tmp_path):
    pages = [
        Page("index", "Executive summary", tmp_path / "index.ipynb"),
        Page("model-crf-1", "crf-1", tmp_path / "model-crf-1.ipynb"),
        Page("reproduce", "How to reproduce", tmp_path / "reproduce.ipynb", appendix=True),
    ]
    project = quarto_project(pages, VERSION, tmp_path / "site")
    assert project["book"]["chapters"] == ["index.ipynb", "model-crf-1.ipynb"]
    assert project["book"]["appendices"] == ["reproduce.ipynb"]
    assert project["book"]["output-file"] == f"report-{VERSION}"
    assert VERSION in project["book"]["page-footer"]
    assert project["execute"]["enabled"] is False
    assert "pre-render" not in project["project"] and "metadata-files" not in project  # executed already
    assert set(project["format"]) == {"html", "typst"}
    yaml.safe_dump(project)  # what is written to _quarto.yml


def test_report_version_joins_package_commit_and_date():
    assert report_version(datetime(2026, 11, 28), "ab12cd3ef") == "0.1.0+ab12cd3.20261128"
    assert report_version(datetime(2026, 1, 2), "ab12cd3ef-dirty") == "0.1.0+ab12cd3.dirty.20260102"


def test_report_version_takes_its_date_from_source_date_epoch_when_set(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1795996800")  # 2026-11-30 00:00:00 UTC
    assert report_version(commit="ab12cd3ef") == "0.1.0+ab12cd3.20261130"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(PipelineError, match="SOURCE_DATE_EPOCH='yesterday'"):
        report_version(commit="ab12cd3ef")


def test_latest_points_to_the_newest_version_and_keeps_the_older(tmp_path):
    older, newer = tmp_path / "0.1.0+a.1", tmp_path / "0.1.0+b.2"
    older.mkdir()
    newer.mkdir()
    point_latest(older)
    point_latest(newer)
    assert (tmp_path / "latest").resolve() == newer.resolve()
    assert older.is_dir()


def test_no_analysed_run_says_which_command_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m pipeline analyze"):
        analysed_runs(tmp_path)


def test_highlighted_example_brackets_and_colours_spans():
    html = highlighted_example(
        ["had", "high", "fever"],
        [{"start": 1, "end": 3, "type": "Sign_symptom"}],
        [{"start": 2, "end": 3, "type": "Sign_symptom"}],
    )
    assert html == (
        '<p class="example">gold: had <mark style="background:#bfdbfe">[high fever]<sub>Sign_symptom'
        '</sub></mark></p><p class="example">predicted: had high <mark style="background:#fecaca">'
        "[fever]<sub>Sign_symptom</sub></mark></p>"
    )


def run_inputs(name: str, model: str, f1: float, split: str = "document", long_docs: str = "window"):
    from pipeline.reporting.inputs import RunInputs

    metrics = {"test": {"micro": {"precision": f1, "recall": f1, "f1": f1}}}
    config = {"model": model, "split_strategy": split, "train": {"long_docs": long_docs}}
    return RunInputs(name, Path(name), config, metrics, None, None)


def test_truncation_pairs_need_both_modes_of_one_model_on_the_document_split():
    from pipeline.reporting.facts import truncation_pairs

    runs = [
        run_inputs("a", "minilm", 0.65),
        run_inputs("b", "minilm", 0.71, split="rows"),
        run_inputs("c", "crf", 0.45),
        run_inputs("d", "minilm", 0.55, long_docs="truncate"),
    ]
    assert truncation_pairs(runs) == [("minilm", 0.65, 0.55)]
    assert [run.label for run in runs] == ["minilm", "minilm-row-split", "crf", "minilm-truncate"]


def test_without_names_the_newest_analysed_run_of_each_kind_is_reported(tmp_path):
    for name in (
        "minilm-20261127-090000",
        "minilm-20261128-090000",
        "minilm-truncate-20261127-090000",
        "crf-20261128-090000",
    ):
        (tmp_path / "runs" / name / "analysis").mkdir(parents=True)
        (tmp_path / "runs" / name / "analysis" / "analysis.json").write_text("{}")
    (tmp_path / "runs" / "crf-20261128-100000").mkdir()  # trained, not analysed
    assert [run.name for run in analysed_runs(tmp_path)] == [
        "crf-20261128-090000",
        "minilm-20261128-090000",
        "minilm-truncate-20261127-090000",
    ]


def test_a_bench_json_of_an_older_schema_asks_for_a_new_bench(tmp_path):
    from fixtures import make_fixture_run
    from report_fixtures import bench_json

    from pipeline.core.errors import StaleOutputError
    from pipeline.core.files import write_json
    from pipeline.reporting.inputs import load_run

    run_dir = make_fixture_run(tmp_path, "minilm-20260101-000000")
    write_json(run_dir / "bench.json", bench_json(4.0))  # no schema_version: written before schemas existed
    with pytest.raises(
        StaleOutputError,
        match=r"bench.json has schema version None but this pipeline reads "
        r"version 2: rebuild it with `python -m pipeline bench --run "
        r"minilm-20260101-000000`",
    ):
        load_run(run_dir)


def cells(table) -> list[list[str]]:
    return [[td.get_text() for td in row.find_all("td")] for row in table.find("tbody").find_all("tr")]


@pytest.mark.slow
def test_model_page_shows_match_rates_patterns_and_length_as_in_the_json(built):
    from pipeline.core.files import read_json

    build, runs = built
    errors = read_json(build.folder.parents[1] / "runs" / runs[0] / "analysis" / "analysis.json")["errors"]
    patterns = read_json(build.folder.parents[1] / "runs" / runs[0] / "analysis" / "analysis.json")["patterns"]
    page = soup(build.rendered.site_dir / f"model-{runs[0]}.html")
    rates = cells(page.find("table", id="match-rates"))
    assert rates[0] == [
        "exact (boundaries and type)",
        f"{errors['exact_match_rate']:.3f}",
        str(errors["counts"]["exact"]),
    ]
    assert rates[1][1] == f"{errors['partial_match_rate']:.3f}" and rates[2][2] == str(errors["gold_spans"])
    shown = cells(page.find("table", id="error-patterns"))
    assert [row[:3] for row in shown] == [
        [p["pattern"].replace("_", " "), str(p["gold_with"]), str(p["missed_with"])] for p in patterns
    ]
    boundary = errors["boundary_by_length"]
    lengths = cells(page.find("table", id="boundary-by-length"))
    for row, bucket in zip(lengths, boundary["buckets"]):
        assert row[:3] == [bucket["length"], str(bucket["gold"]), str(bucket["boundary_errors"])]
        if bucket["gold"]:
            assert row[3] == f"{bucket['rate']:.3f} [{bucket['ci'][0]:.3f}, {bucket['ci'][1]:.3f}]"
    assert "the hypothesis that longer entities get more boundary errors" in page.get_text()
    assert "the GPU rows (and the CPU-against-GPU slowdown) need a CUDA machine" in page.get_text()


@pytest.mark.slow
def test_cost_memory_policy_and_high_value_tables_hold_the_json_numbers(built):
    from pipeline.core.files import read_json

    build, runs = built
    output_dir = build.folder.parents[1]
    bench = read_json(output_dir / "runs" / runs[0] / "bench.json")
    page = soup(build.rendered.site_dir / f"model-{runs[0]}.html")
    estimate = cells(page.find("table", id="estimate"))
    assert [[row[0], row[4], row[6]] for row in estimate] == [["fp32", "2.5", "0.250"], ["int8", "1.2", "0.125"]]
    assert [r["hours"] for r in bench["estimate"]] == [2.5, 1.25]  # 1.25 hours shows as 1.2 (one decimal above 1)
    memory = dict(row for row in cells(page.find("table", id="memory")))
    assert memory["training peak memory (MB, peak)"] == "900.0"
    assert memory["inference peak memory, fp32 on cpu (MB, largest batch)"] == "700.0"
    assert memory["inference peak memory, int8 on cpu (MB, largest batch)"] == "400.0"
    production = soup(build.rendered.site_dir / "production.html")
    chosen = read_json(output_dir / "comparison" / "comparison.json")["best"]["overall"]
    high_value = read_json(output_dir / "runs" / chosen / "analysis" / "analysis.json")["readiness"]["high_value"]
    policy = read_json(output_dir / "runs" / chosen / "policy.json")
    test = read_json(output_dir / "runs" / chosen / "analysis" / "analysis.json")["policy"]
    overview = {row[0]: row[1:] for row in cells(production.find("table", id="policy"))}
    assert overview["automation rate"] == [
        f"{policy['validation']['automation_rate']:.3f}",
        f"{test['automation_rate']:.3f}",
    ]
    per_type = {row[0]: row for row in cells(production.find("table", id="policy-types"))}
    assert list(per_type) == list(policy["types"])
    for name, entry in policy["types"].items():
        assert per_type[name][1] == (
            "always review"
            if entry["threshold"] is None
            else f"auto at {entry['threshold']:g}" + (" (pooled)" if entry["source"] == "pooled" else "")
        )
        assert per_type[name][5] == str(test["per_type"][name]["predicted"])
    rows = cells(production.find("table", id="high-value"))
    assert [row[0] for row in rows] == list(high_value)
    assert [row[2] for row in rows] == [f"{v['f1']:.3f}" for v in high_value.values()]
    assert [row[6] for row in rows] == [f"{v['precision_at_threshold']:.3f}" for v in high_value.values()]


@pytest.mark.slow
def test_the_crf_page_says_it_has_no_training_curve(built):
    build, runs = built
    assert "crf records no epochs" in soup(build.rendered.site_dir / f"model-{runs[2]}.html").get_text()
    assert "crf records no epochs" in soup(build.rendered.site_dir / "comparison.html").get_text()


QUARTO_ENV = {"QUARTO_PROJECT_RENDER_ALL": "1", "QUARTO_PROJECT_INPUT_FILES": "", "QUARTO_PROJECT_OUTPUT_FILES": ""}


def quarto_step(root: Path, step: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The command of the top-level _quarto.yml, run as Quarto runs it: in the project root, with its variables."""
    command = yaml.safe_load((Path(__file__).parents[1] / "_quarto.yml").read_text())["project"][step]
    assert command == f"python -m pipeline quarto-step {step}"
    variables = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), **env}
    argv = [sys.executable, *command.split()[1:], "--quiet"]
    return subprocess.run(argv, cwd=root, env=variables, capture_output=True, text=True, check=True, timeout=900)


@pytest.mark.slow
def test_pre_render_run_as_quarto_runs_it_writes_the_chapters_and_post_render_files_the_site(tmp_path):
    make_report_outputs(tmp_path / "outputs")
    site = tmp_path / "_site"
    env = {**QUARTO_ENV, "QUARTO_PROJECT_DIR": str(tmp_path), "QUARTO_PROJECT_OUTPUT_DIR": str(site)}
    quarto_step(tmp_path, "pre-render", env)
    chapters = yaml.safe_load((tmp_path / "_chapters.yml").read_text())
    runs = sorted(p.name for p in (tmp_path / "outputs" / "runs").iterdir())
    assert chapters["book"]["chapters"] == [f"{slug}.ipynb" for slug in SUMMARY_SLUGS] + [
        f"model-{r}.ipynb" for r in runs
    ]
    assert chapters["book"]["appendices"] == [f"{slug}.ipynb" for slug in APPENDIX_SLUGS]
    version = chapters["book"]["subtitle"].removeprefix("version ")
    assert chapters["book"]["output-file"] == f"report-{version}"
    executed = chapters["book"]["chapters"] + chapters["book"]["appendices"]
    assert all((tmp_path / chapter).is_file() for chapter in executed)  # executed by papermill
    # what Quarto would write, then the post-render step
    site.mkdir()
    (site / "index.html").write_text("<html></html>")
    (site / f"report-{version}.pdf").write_bytes(b"%PDF-1.7")
    quarto_step(tmp_path, "post-render", env)
    filed = tmp_path / "outputs" / "report" / version
    assert (filed / "site" / "index.html").is_file() and (filed / f"report-{version}.pdf").is_file()
    assert sorted(p.name for p in (filed / "notebooks").iterdir()) == sorted(executed)
    assert (tmp_path / "outputs" / "report" / "latest").resolve() == filed.resolve()


def test_rendering_one_file_skips_the_papermill_step(tmp_path, monkeypatch):
    from pipeline.reporting.build import quarto_post_render, quarto_pre_render

    monkeypatch.delenv("QUARTO_PROJECT_RENDER_ALL", raising=False)
    monkeypatch.setenv("QUARTO_PROJECT_DIR", str(tmp_path))
    config = ReportConfig(output_dir=str(tmp_path / "outputs"))
    assert quarto_pre_render(config) is None and quarto_post_render(config) is None
    assert not (tmp_path / "_chapters.yml").exists()


@pytest.mark.skipif(not quarto_available(), reason="quarto is not on PATH; its pre-render step is tested instead")
@pytest.mark.slow
def test_a_bare_quarto_render_at_the_project_root_builds_the_report(tmp_path):
    root = Path(__file__).parents[1]
    shutil.copy2(root / "_quarto.yml", tmp_path / "_quarto.yml")
    make_report_outputs(tmp_path / "outputs")
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run(["quarto", "render"], cwd=tmp_path, env=env, check=True, timeout=1800)
    latest = tmp_path / "outputs" / "report" / "latest"
    assert (latest / "site" / "index.html").is_file()
    assert list(latest.glob("report-*.pdf"))


def table_rows(page, table_id: str) -> dict[str, dict[str, str]]:
    """A table of the page as {first cell: {header: cell}}."""
    table = page.find("table", id=table_id)
    headers = [th.get_text() for th in table.find("thead").find_all("th")]
    return {row[0]: dict(zip(headers, row)) for row in cells(table)}


@pytest.mark.slow
def test_the_methods_page_reads_recipes_epochs_searches_and_windows_from_the_runs(built):
    from pipeline.core.files import read_json

    build, runs = built
    output_dir = build.folder.parents[1]
    page = soup(build.rendered.site_dir / "methods.html")
    config = read_json(output_dir / "runs" / runs[0] / "config.json")["train"]
    recipe = table_rows(page, "recipes")["minilm"]
    assert (
        recipe["learning rate (encoder / head)"] == f"{config['lr'][0]:g} / {config['head_lr']:g}" == "0.0002 / 0.001"
    )
    assert recipe["windows (length / overlap)"] == f"{config['max_length']} / {config['overlap']}"
    assert table_rows(page, "recipes")["minilm-truncate"]["batch"] == "8 × 2"  # gradient accumulation 2
    # minilm: best validation F1 at epoch 2 of the 4 it ran (at most 6, patience 2); the twin improves to its last
    training = table_rows(page, "training")
    assert [training["minilm"][key] for key in ("epochs run", "kept epoch", "ended by")] == [
        "4",
        "2",
        "early stopping (patience 2)",
    ]
    assert training["minilm"]["seconds per epoch"] == "30.0"  # 120 s of training over 4 epochs
    text = page.get_text()
    assert (
        "minilm ran 4 epochs and kept epoch 2, its best by micro (validation micro-F1 0.550): early stopping ended it "
        "2 epochs later" in text
    )
    assert (
        "minilm-truncate ran 6 epochs and kept epoch 6, its best by micro (validation micro-F1 0.540), its last: "
        "it was still improving" in text
    )
    rules = table_rows(page, "stopping-rules")  # keyed by the first column: the model
    assert rules["minilm"]["rule (score, patience)"] in {"micro, 2", "micro, 3", "micro, 5"}  # micro only recorded
    searches = table_rows(page, "searches")
    assert [searches["crf"][key] for key in ("searched", "points", "kept")] == ["CRF c1 × c2", "2", "c1 0.1, c2 0.01"]
    assert searches["crf"]["validation F1 over the points"] == "0.512–0.534"
    assert searches["minilm-truncate"]["kept"] == "lr 0.0002"
    windows = table_rows(page, "windows-choice")["minilm"]
    assert [windows["trained with"], windows["chosen for inference"]] == ["256/64", "192/16"]
    assert windows["validation F1, chosen windows (fp32)"] == "0.5877"
    assert windows["encoder FLOPs saved"] == "16%"  # 1 - 22.9 / 27.3 MFLOP per wordpiece


@pytest.mark.slow
def test_the_methods_page_climbs_the_ablation_and_states_seeds_variants_and_gpu_rows(built):
    from pipeline.core.files import read_json

    build, runs = built
    output_dir = build.folder.parents[1]
    page = soup(build.rendered.site_dir / "methods.html")
    text = page.get_text()
    ablation = sorted(read_json(output_dir / "comparison" / "ablation.json")["rows"], key=lambda r: -r["validation_f1"])
    ladder = cells(page.find("table", id="ablation-ladder"))
    assert [row[0] for row in ladder] == [row["lever"] for row in ablation]
    top, second = ablation[:2]
    assert ladder[0][2] == f"{100 * (top['validation_f1'] - second['validation_f1']):+.1f}"
    assert ladder[0][4] == f"{100 * (top['f1'] - second['f1']):+.1f}"
    assert ladder[-1][2] == "–"
    # seeds.json: seeds 42 and 43 of minilm
    assert "minilm over 2 seeds (42, 43): test micro-F1 0.618 to 0.627 (a spread of 0.9 points" in text
    variants = table_rows(page, f"variants-{runs[0]}")
    assert variants["int8 (chosen)"]["× pipeline, same batch"] == "2.25 (2.05–2.50)"
    assert variants["int8 (chosen)"]["test points against fp32"] == "-0.2"
    assert (
        "minilm was benchmarked on Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz (AMX, 2 cores) with 2 threads; the "
        "CPU's bf16 and int8 instruction sets"
    ) in text
    assert "Not timed on this machine: bf16: AVX-512 BF16 without AMX, where torch bf16 ran 3-5x slower" in text
    assert "Benchmarked on a GPU: minilm-truncate (NVIDIA H100 80GB HBM3)." in text
    latency = table_rows(page, f"cpu-gpu-{runs[1]}")
    assert latency["fp32"]["slowdown"] == "8.0"  # 200 ms on the CPU over 25 ms for fp16 on the GPU


@pytest.mark.slow
def test_the_reproduce_appendix_states_commands_seeds_versions_and_stage_times(built):
    from pipeline.core.files import read_json

    build, runs = built
    output_dir = build.folder.parents[1]
    page = soup(build.rendered.site_dir / "reproduce.html")
    provenance = table_rows(page, "provenance")
    twin = read_json(output_dir / "runs" / runs[1] / "config.json")
    assert provenance[runs[1]]["command"] == twin["command"]
    assert provenance[runs[1]]["training seed"] == "43"
    assert provenance[runs[1]]["git commit"] == "0123456789ab (uncommitted changes)"
    assert provenance[runs[2]]["training seed"] == "–"  # a CRF has no training seed
    versions = table_rows(page, "versions")
    assert versions["torch"]["version"] == "2.11.0 (minilm, crf); 2.10.0 (minilm-truncate)"
    assert versions["transformers"]["version"] == "5.17.0"
    comparison = read_json(output_dir / "comparison" / "comparison.json")
    text = page.get_text()
    assert f"the bootstrap draws {comparison['resamples']} resamples of the documents with seed 42" in text
    assert "the split is document with seed 42" in text
    stages = cells(page.find("table", id="stages"))
    xeon = "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz (AMX, 2 cores)"
    assert [row[:3] for row in stages] == [
        ["data", "4.0", xeon],
        ["train-minilm", "599.0", xeon],
        ["compare", "1.0", "an unrecorded machine"],  # a record written before stages named their machine
    ]
    assert f"The 3 recorded stages took 10.1 minutes in all on {xeon} and an unrecorded machine" in text  # 604 s
