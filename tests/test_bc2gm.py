"""A second corpus of another shape, end to end: BC2GM (one type, one-sentence documents, an official
train/devel/test split), as its brat sample and as CoNLL, through data -> train (tiny model and CRF)
-> analyze -> bench -> compare -> report on its own split and types, with no MACCROBAT wording left."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import REPO, save_tiny_model

from pipeline.config import HIGH_VALUE_TYPES, PipelineConfig
from pipeline.core.files import read_json
from pipeline.core.layout import Outputs

BC2GM = REPO.parent / "shared" / "data" / "bc2gm"
SENTENCES = {"train": 150, "devel": 50, "test": 50}  # the first sentences of each CoNLL file


def require_bc2gm() -> Path:
    """The shared BC2GM copy; skipped when absent (a user's clone), never under CI=true."""
    if (BC2GM / "conll").is_dir() and (BC2GM / "brat").is_dir():
        return BC2GM
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the shared BC2GM copy is missing at {BC2GM}")
    pytest.skip(f"shared BC2GM copy not found at {BC2GM}")


def conll_subset(source: Path, folder: Path) -> Path:
    """The first SENTENCES of each official CoNLL file, in a folder named like the corpus."""
    folder.mkdir(parents=True)
    for part, count in SENTENCES.items():
        blocks = (source / "conll" / f"{part}.tsv").read_text(encoding="utf-8").split("\n\n")
        (folder / f"{part}.tsv").write_text("\n\n".join(blocks[:count]) + "\n", encoding="utf-8")
    return folder


def official_split(kind: str, bc2gm: Path) -> dict[str, list[str]]:
    """Document ids per part as the corpus defines them (brat: file names per folder; CoNLL: file order)."""
    parts = {"train": "train", "validation": "devel", "test": "test"}
    if kind == "brat":
        return {part: sorted(p.stem for p in (bc2gm / "brat" / name).glob("*.txt")) for part, name in parts.items()}
    return {part: [f"{name}-{n:05d}" for n in range(1, SENTENCES[name] + 1)] for part, name in parts.items()}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["brat", "conll"])
def test_bc2gm_runs_end_to_end_on_its_own_split_and_types(tmp_path, kind):
    from pipeline.stages.runner import run_all

    bc2gm = require_bc2gm()
    data = bc2gm / "brat" if kind == "brat" else conll_subset(bc2gm, tmp_path / "bc2gm")
    model = save_tiny_model(tmp_path / "tiny")
    out = tmp_path / "out"
    config = PipelineConfig(data=str(data), models=[str(model)], truncate_twin=False, output_dir=str(out))
    overrides = {
        "TrainConfig": {"epochs": 1, "wandb": False, "max_length": 64, "overlap": 16},
        "CRFConfig": {"wandb": False, "max_iterations": 20},
        "AnalysisConfig": {"resamples": 50},
        "BenchConfig": {"variants": ["fp32"], "sample_docs": 4, "rounds": 1, "batch_sizes": [8], "windows": []},
    }
    records = run_all(config, "cpu", progress=False, echo=lambda _: None, overrides=overrides)
    assert [record.name for record in records] == [
        "data",
        "train-tiny",
        "train-crf",
        "train-combined",
        "analyze-tiny",
        "analyze-crf",
        "analyze-combined",
        "bench-tiny",
        "bench-crf",
        "bench-combined",
        "compare",
        "report",
    ]  # its own split: no leak experiment

    split = read_json(Outputs(out).split)
    assert split["strategy"] == "predefined"
    assert {part: sorted(split[part]) for part in ("train", "validation", "test")} == official_split(kind, bc2gm)
    summary = read_json(Outputs(out).summary)
    assert summary["corpus"] == "BC2GM" and list(summary["types"]) == ["GENE"]
    for run in ("tiny", "crf"):
        analysis = read_json(next(Outputs(out).runs.glob(f"{run}-*")) / "analysis" / "analysis.json")
        assert list(analysis["readiness"]["high_value"]) == ["GENE"]
        assert analysis["readiness"]["high_value_chosen"].startswith(
            "High-value types: the most frequent type in training (GENE)"
        )

    report = records[-1].outputs["report"]
    pdfs = list(Path(report).glob("report-BC2GM-*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].stat().st_size > 10_000
    pages = {page.name: page.read_text(encoding="utf-8") for page in (Path(report) / "site").glob("*.html")}
    pages["report.typ"] = (Path(report) / "_build" / "report.typ").read_text(encoding="utf-8")
    assert "BC2GM named-entity recognition: Phase 1 report" in pages["index.html"]
    assert "the corpus&#x27;s own train/validation/test split" in pages["index.html"] or (
        "the corpus's own train/validation/test split" in pages["index.html"]
    )
    assert "most frequent type in training (GENE)" in pages["production.html"]
    for name, text in pages.items():
        leftovers = re.findall(r"(?i)maccrobat|" + "|".join(HIGH_VALUE_TYPES), text)
        assert not leftovers, f"{name} names MACCROBAT or its types: {sorted(set(leftovers))}"
