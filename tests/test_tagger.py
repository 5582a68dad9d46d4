"""The Tagger protocol: the transformer, CRF and combined runs load as taggers that share it, save and load back
to the same probabilities, and give `combine` the numbers it computed before it went through them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures import make_fixture_run

from pipeline.cli import main
from pipeline.core.errors import ConfigError
from pipeline.core.files import write_json
from pipeline.core.layout import read_predictions, read_run_config, write_tags
from pipeline.modeling.backends import TransformerTagger
from pipeline.modeling.crf import CRFTagger, crf_probabilities, document_features, save_crf
from pipeline.modeling.mixture import CombinedTagger, combine_documents
from pipeline.modeling.tagger import Tagger, load_tagger, tagger_kind
from pipeline.modeling.tagging import word_probabilities

UNSEEN = ["The", "61", "-", "year", "-", "old", "man", "had", "chills", "since", "Monday", "."]


@pytest.fixture(scope="module")
def runs(tiny_run, tmp_path_factory) -> dict[str, Path]:
    """Three runs side by side: the tiny random BERT, a CRF fitted 5 iterations on the fixture's test
    documents and their combination with a prior correction, as `combine` records one."""
    root = tmp_path_factory.mktemp("taggers")
    transformer = Path(shutil.copytree(tiny_run, root / tiny_run.name, ignore=shutil.ignore_patterns("onnx")))
    crf_run = make_fixture_run(root, "crf-20260101-000000", model="crf")
    import sklearn_crfsuite

    rows = read_predictions(crf_run, "test")
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", max_iterations=5)
    crf.fit([document_features(r["words"]) for r in rows], [r["gold"] for r in rows])
    tag2id = read_run_config(crf_run)["tag2id"]
    save_crf(crf, crf_run / "model" / "crf.pkl")  # as train_crf writes a CRF run's model/
    write_tags(crf_run / "model" / "tags.json", tag2id)
    combined = make_fixture_run(root, "combined-20260101-000000", model="combined")
    prior = np.linspace(1.0, 2.0, len(tag2id)) / np.linspace(1.0, 2.0, len(tag2id)).sum()
    write_tags(combined / "model" / "tags.json", tag2id)
    write_json(
        combined / "model" / "combined.json",
        {
            "transformer_run": transformer.name,
            "transformer_dir": str(transformer),
            "crf_run": crf_run.name,
            "crf_dir": str(crf_run),
            "weight": 0.5,
            "decoder": "viterbi",
            "prior_tau": 1.0,
            "prior": {tag: float(prior[index]) for tag, index in tag2id.items()},
        },
    )
    return {"transformer": transformer, "crf": crf_run, "combined": combined}


@pytest.fixture(scope="module")
def documents(runs) -> list[list[str]]:
    return [r["words"] for r in read_predictions(runs["transformer"], "test")] + [UNSEEN]


KINDS = {"transformer": TransformerTagger, "crf": CRFTagger, "combined": CombinedTagger}


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_run_loads_as_its_tagger_and_satisfies_the_protocol(runs, kind):
    tagger = load_tagger(runs[kind], "fp32", "cpu")
    assert tagger_kind(runs[kind]) == kind
    assert type(tagger) is KINDS[kind] and isinstance(tagger, Tagger)


def test_an_object_without_save_and_load_is_not_a_tagger():
    class Half:
        id2tag = {0: "O"}  # noqa: RUF012 (read only)
        device = "cpu"

        def predict_proba(self, documents, batch_size=32):
            return []

    assert not isinstance(Half(), Tagger)


@pytest.mark.parametrize("kind", KINDS)
def test_a_tagger_saved_and_loaded_back_gives_the_same_probabilities(runs, documents, kind, tmp_path):
    tagger = load_tagger(runs[kind], "fp32", "cpu")
    expected = tagger.predict_proba(documents, batch_size=4)
    assert [rows.shape for rows in expected] == [(len(words), len(tagger.id2tag)) for words in documents]
    np.testing.assert_allclose([rows.sum(axis=1) for rows in expected[-1:]], 1.0, rtol=1e-5)
    assert not np.allclose(expected[-1][0], expected[-1][0].mean())  # not uniform: a model spoke
    target = tmp_path / runs[kind].name
    target.mkdir()
    shutil.copy(runs[kind] / "config.json", target / "config.json")  # the run's settings, written when it began
    tagger.save(target)
    again = load_tagger(target, "fp32", "cpu")
    assert type(again) is type(tagger) and again.id2tag == tagger.id2tag
    found = again.predict_proba(documents, batch_size=4)
    assert all(np.array_equal(a, b) for a, b in zip(found, expected))
    assert [tags for tags, _ in again.predict(documents)] == [tags for tags, _ in tagger.predict(documents)]


def test_a_saved_combined_run_names_its_parts_and_keeps_its_prior(runs, tmp_path):
    tagger = load_tagger(runs["combined"], "fp32", "cpu")
    tagger.save(tmp_path)
    assert json.loads((tmp_path / "model" / "combined.json").read_text()) == json.loads(
        (runs["combined"] / "model" / "combined.json").read_text()
    )


def test_the_combined_probabilities_are_those_combine_computed_from_its_parts(runs, documents):
    """The inference path `combine` ran before it went through the taggers: the transformer's softmax
    merged over windows, crfsuite's marginals put in the data's tag order, averaged and prior-corrected."""
    tagger = load_tagger(runs["combined"], "fp32", "cpu")
    assert isinstance(tagger, CombinedTagger)
    transformer = tagger.transformer
    tag2id = read_run_config(runs["combined"])["tag2id"]
    soft = word_probabilities(
        None,
        transformer.tokenizer,
        documents,
        transformer.max_length,
        transformer.overlap,
        transformer.truncate,
        4,
        transformer.forward,
    )
    marginals = crf_probabilities(tagger.crf.crf, documents, tag2id)
    assert tagger.prior is not None and tagger.prior_tau == 1.0
    expected = combine_documents(soft, marginals, 0.5, tagger.prior, 1.0)
    found = tagger.predict_proba(documents, batch_size=4)
    assert all(np.array_equal(a, b) for a, b in zip(found, expected))
    assert all(np.array_equal(a, b) for a, b in zip(tagger.transformer.predict_proba(documents, 4), soft))
    assert all(np.array_equal(a, b) for a, b in zip(tagger.crf.predict_proba(documents), marginals))
    assert not all(np.array_equal(a, b) for a, b in zip(found, soft))  # the CRF and the prior changed them


def test_a_combined_tagger_refuses_parts_with_other_tags(runs):
    tagger = load_tagger(runs["combined"], "fp32", "cpu")
    assert isinstance(tagger, CombinedTagger)
    other = CRFTagger(tagger.crf.crf, {**tagger.crf.id2tag, 0: "B-Other"})
    with pytest.raises(ConfigError, match="other tags"):
        CombinedTagger(**{**vars(tagger), "crf": other})


def test_a_transformer_loaded_in_another_variant_refuses_to_save(runs, tmp_path):
    with pytest.raises(ConfigError, match="load it as fp32"):
        load_tagger(runs["transformer"], "int8", "cpu").save(tmp_path)


def test_predict_tags_notes_with_a_crf_run_and_refuses_a_variant_for_it(runs, tmp_path, capsys, caplog):
    note = tmp_path / "note.txt"
    note.write_text("A 45-year-old woman had fever and chest pain.", encoding="utf-8")
    output = tmp_path / "spans.jsonl"
    assert main(["predict", "--run", str(runs["crf"]), "--input", str(note), "--output", str(output), "--quiet"]) == 0
    (record,) = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert record["id"] == "note" and record["words"] == 13
    assert "as a CRF" in capsys.readouterr().err
    flags = ["predict", "--run", str(runs["crf"]), "--input", str(note), "--output", str(tmp_path / "int8.jsonl")]
    assert main([*flags, "--int8"]) == 2
    assert "is a CRF run: --variant, --int8 and --onnx are a transformer's" in caplog.text
