"""Shared fixtures: the real MACCROBAT copy, the offline MiniLM tokenizer, a tiny random BERT."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_BRAT = REPO.parent / "shared" / "data" / "maccrobat" / "brat" / "2020"


def require_shared_data() -> Path:
    """The shared brat copy; skipped when absent (a user's clone), never under CI=true."""
    if SHARED_BRAT.is_dir():
        return SHARED_BRAT
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the shared MACCROBAT copy is missing at {SHARED_BRAT}")
    pytest.skip(f"shared MACCROBAT copy not found at {SHARED_BRAT}")


@pytest.fixture(scope="session")
def shared_brat() -> Path:
    return require_shared_data()


@pytest.fixture(scope="session")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from pipeline.modeling.registry import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("minilm"))


def save_tiny_model(folder: Path, tag2id: dict[str, int] | None = None, layers: int = 2) -> Path:
    """A random BERT of `layers` layers (2: the tiny model) with the MiniLM vocabulary, saved like a hub
    checkpoint."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    from pipeline.modeling.registry import resolve_model

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    if tag2id:
        config.num_labels = len(tag2id)
        config.label2id = dict(tag2id)
        config.id2label = {i: t for t, i in tag2id.items()}
    BertForTokenClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-bert"))


def synthetic_brat_folder(folder: Path, documents: int = 12) -> Path:
    """Short brat documents with one easy pattern (Age, Sex, Sign_symptom): a model can learn it."""
    folder.mkdir()
    for number in range(documents):
        text = f"A {30 + number}-year-old woman had fever and cough on day {number}."
        entities = [("Age", f"{30 + number}-year-old"), ("Sex", "woman"), ("Sign_symptom", "fever")]
        ann = "".join(
            f"T{i}\t{kind} {text.index(span)} {text.index(span) + len(span)}\t{span}\n"
            for i, (kind, span) in enumerate(entities, start=1)
        )
        (folder / f"{1000 + number}.txt").write_text(text, encoding="utf-8")
        (folder / f"{1000 + number}.ann").write_text(ann, encoding="utf-8")
    return folder


def make_model_run(
    folder: Path, max_length: int = 24, overlap: int = 6, name: str = "minilm-20260101-000000", layers: int = 2
) -> Path:
    """A fixture run (tests/fixtures.py) that also holds a tiny random model, ready for inference."""
    from fixtures import make_fixture_run

    from pipeline.core.layout import read_record, write_record, write_tags

    run_dir = make_fixture_run(folder, name)
    config = read_record(run_dir / "config.json", "run_config")
    config["train"].update(max_length=max_length, overlap=overlap)
    write_record(run_dir / "config.json", "run_config", config)
    tag2id = config["tag2id"]
    save_tiny_model(run_dir / "model", tag2id, layers)
    write_tags(run_dir / "model" / "tags.json", tag2id)
    return run_dir


def run_in_outputs(root: Path, run_dir: Path) -> Path:
    """A copy of `run_dir` (without ONNX exports) inside an outputs folder under `root` whose prepared data
    is a synthetic brat corpus: 8 training, 2 validation and 2 test documents that differ in their numbers
    (what openvino-int8 calibrates on)."""
    import shutil

    from pipeline.config import DataConfig
    from pipeline.data.prepare import prepare_data
    from pipeline.modeling.features import length_measure

    config = DataConfig(
        data=str(synthetic_brat_folder(root / "brat")), output_dir=str(root / "out"), validation_size=2, test_size=2
    )
    prepare_data(config, length_measure(config), progress=False)
    return Path(shutil.copytree(run_dir, root / "out" / "runs" / run_dir.name, ignore=shutil.ignore_patterns("onnx")))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A run directory with a tiny random model and the fixture test predictions (words, gold tags)."""
    return make_model_run(tmp_path_factory.mktemp("tiny-run"))
