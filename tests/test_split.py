"""Document-level split: exact sizes, no document in two parts, and the leak of a row split."""

from __future__ import annotations

import json

from pipeline.core.documents import Document
from pipeline.data.split import assign_parts, leaked_groups, split_documents

TYPES = ["Age", "Sex", "Date", "Dosage", "Lab_value"]


def two_version_corpus(documents: int = 40) -> list[Document]:
    """Every document twice (a 2018 and a 2020 release), as in the Hugging Face set."""
    corpus = []
    for version in ("2018", "2020"):
        for number in range(documents):
            tags = [f"B-{TYPES[number % 5]}", "O", f"B-{TYPES[(number * 3) % 5]}"]
            corpus.append(
                Document(f"{version}-{number}", ["w1", "w2", "w3"], tags, f"doc-{number}", "fixture", version)
            )
    return corpus


def test_document_split_never_puts_two_versions_of_a_document_in_different_parts():
    corpus = two_version_corpus()
    split = split_documents(corpus, "document", validation_size=6, test_size=6, seed=1)
    assert leaked_groups(corpus, split) == []
    assert [len(split[p]) for p in ("train", "validation", "test")] == [56, 12, 12]


def test_row_split_puts_copies_of_test_documents_in_train():
    corpus = two_version_corpus()
    split = split_documents(corpus, "rows", validation_size=6, test_size=6, seed=1)
    assert len(leaked_groups(corpus, split)) > 0
    assert [len(split[p]) for p in ("train", "validation", "test")] == [68, 6, 6]


def test_sizes_may_be_fractions():
    corpus = two_version_corpus(50)
    split = split_documents(corpus, "document", validation_size=0.1, test_size=0.2, seed=0)
    assert [len(split[p]) // 2 for p in ("train", "validation", "test")] == [35, 5, 10]


def test_split_is_reproducible_with_a_seed():
    corpus = two_version_corpus()
    assert split_documents(corpus, validation_size=5, test_size=5, seed=7) == split_documents(
        corpus, validation_size=5, test_size=5, seed=7
    )


def test_real_corpus_splits_140_30_30_with_no_document_in_two_parts(tmp_path, shared_brat):
    from pipeline.config import DataConfig
    from pipeline.data.prepare import load_prepared, prepare_data
    from pipeline.modeling.features import length_measure

    config = DataConfig(data=str(shared_brat), output_dir=str(tmp_path))
    summary = prepare_data(config, length_measure(config), progress=False)
    prepared = load_prepared(tmp_path)
    ids = [set(prepared.split[p]) for p in ("train", "validation", "test")]
    assert [len(i) for i in ids] == [140, 30, 30]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert summary["documents"] == 200 and summary["window_word_coverage"] == 1.0
    assert summary["entities_dropped_share"] < 0.025
    assert summary["truncation_lost_entities"] > 0
    # MACCROBAT's tiers are unchanged by count-or-share thresholds, and its name is found past `brat/2020`
    tiers = [info["tier"] for info in summary["types"].values()]
    assert [tiers.count(tier) for tier in ("frequent", "medium", "rare")] == [5, 14, 22]
    assert (summary["tiers"]["frequent_above"], summary["tiers"]["rare_below"]) == (1000, 100)
    assert summary["corpus"] == "MACCROBAT" and summary["split"]["strategy"] == "document"
    # every B- has an I-, and the tag maps load back
    assert all(f"I-{tag[2:]}" in prepared.tag2id for tag in prepared.tag2id if tag.startswith("B-"))
    assert len(prepared.tag2id) == 1 + 2 * 41
    saved = json.loads((tmp_path / "data" / "split.json").read_text())
    assert set(saved) >= {"strategy", "seed", "train", "validation", "test"}
    # the saved split is reused on a second run
    prepare_data(config, length_measure(config), progress=False)
    assert json.loads((tmp_path / "data" / "split.json").read_text()) == saved
    assert assign_parts([d for p in prepared.parts.values() for d in p], saved)["test"][0].id == saved["test"][0]
