"""Any corpus: CoNLL files, brat folders with their own split, Hugging Face splits, split files, text
groups, single-type corpora, tiers as shares, corpus names and corpus-aware high-value types."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from pipeline.config import DataConfig
from pipeline.core.documents import DataError, Document
from pipeline.core.errors import ConfigError
from pipeline.data.conll import iob2_tags
from pipeline.data.prepare import corpus_name, load_prepared, prepare_data
from pipeline.data.sources import load_documents, plain_brat_folder
from pipeline.data.split import split_documents
from pipeline.data.tiers import assign_tiers
from pipeline.evaluation.readiness import choose_high_value_types
from pipeline.reporting.render import pdf_name, report_title


def no_measure(documents: list[Document]) -> dict:
    """The wordpiece figures the data stage records, without a tokenizer (not what these tests check)."""
    words = [len(d.words) for d in documents]
    stats = {"min": min(words), "median": words[0], "mean": 1.0, "max": max(words)}
    return {"words_per_document": stats, "wordpieces_per_document": stats}


def write_conll(path: Path, sentences: list[list[tuple[str, str]]], docstart: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = ["-DOCSTART- -X- O O\n"] if docstart else []
    blocks += ["".join(f"{token}\t{tag}\n" for token, tag in sentence) for sentence in sentences]
    path.write_text("\n".join(blocks), encoding="utf-8")
    return path


GENE = [("BRCA1", "B-GENE"), ("binds", "O"), ("p53", "B-GENE"), ("protein", "I-GENE")]
PLAIN = [("Cells", "O"), ("grew", "O")]


def conll_corpus(folder: Path, sizes: tuple[int, int, int] = (6, 2, 3)) -> Path:
    for name, size in zip(("train", "devel", "test"), sizes):
        sentences = [[(f"{token}{name}{n}", tag) for token, tag in (GENE if n % 2 else PLAIN)] for n in range(size)]
        write_conll(folder / f"{name}.tsv", sentences)
    return folder


def brat_document(folder: Path, stem: str, text: str, mentions: list[tuple[str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ann = "".join(
        f"T{i}\t{kind} {text.index(span)} {text.index(span) + len(span)}\t{span}\n"
        for i, (kind, span) in enumerate(mentions, start=1)
    )
    (folder / f"{stem}.txt").write_text(text, encoding="utf-8")
    (folder / f"{stem}.ann").write_text(ann, encoding="utf-8")


# --- CoNLL ----------------------------------------------------------------------------------------


def test_iob1_and_bioes_tags_become_iob2():
    assert iob2_tags(["I-GENE", "I-GENE", "B-GENE", "O", "I-DNA"], "f:1")[0] == [
        "B-GENE",
        "I-GENE",
        "B-GENE",
        "O",
        "B-DNA",
    ]
    assert iob2_tags(["S-GENE", "B-DNA", "I-DNA", "E-DNA", "U-GENE", "L-GENE"], "f:1")[0] == [
        "B-GENE",
        "B-DNA",
        "I-DNA",
        "I-DNA",
        "B-GENE",
        "I-GENE",
    ]


def test_each_sentence_of_a_file_without_docstart_is_a_document(tmp_path):
    path = write_conll(tmp_path / "train.tsv", [GENE, PLAIN, GENE])
    result = load_documents(str(path), progress=False)
    assert [d.id for d in result.documents] == ["train-00001", "train-00002", "train-00003"]
    assert result.documents[0].words == ["BRCA1", "binds", "p53", "protein"]
    assert result.documents[0].tags == ["B-GENE", "O", "B-GENE", "I-GENE"]
    assert result.conversion["spans_total"] == 4 and result.parts is None  # one file: no split of its own


def test_docstart_lines_separate_documents_of_several_sentences(tmp_path):
    path = tmp_path / "data.conll"
    path.write_text(
        "-DOCSTART- -X- O O\n\nEU NNP B-ORG\nrejects VBZ O\n\nPeter NNP B-PER\n\n"
        "-DOCSTART- -X- O O\n\nGerman JJ B-MISC\n",
        encoding="utf-8",
    )
    result = load_documents(str(path), progress=False)
    assert [d.words for d in result.documents] == [["EU", "rejects", "Peter"], ["German"]]
    assert result.conversion["sentences"] == 3


def test_columns_are_configurable(tmp_path):
    path = tmp_path / "data.conll"
    path.write_text("B-GENE\tBRCA1\nO\tbinds\n", encoding="utf-8")
    (document,) = load_documents(str(path), progress=False, token_column=1, tag_column=0).documents
    assert (document.words, document.tags) == (["BRCA1", "binds"], ["B-GENE", "O"])


def test_a_bad_conll_line_is_reported_with_file_and_line_and_the_rest_load(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("BRCA1\tB-GENE\n\nbroken\n\np53\tX-GENE\n\nCells\tO\n", encoding="utf-8")
    result = load_documents(str(path), progress=False)
    assert [d.words for d in result.documents] == [["BRCA1"], ["Cells"]]
    assert [(e.location, e.document) for e in result.errors] == [
        (f"{path}:3", "train-00002"),
        (f"{path}:5", "train-00003"),
    ]
    assert "1 columns" in result.errors[0].message and "unknown tag 'X-GENE'" in result.errors[1].message


def test_a_conll_folder_with_train_dev_test_files_is_a_predefined_split(tmp_path):
    folder = conll_corpus(tmp_path / "genes")
    config = DataConfig(data=str(folder), output_dir=str(tmp_path / "out"))
    summary = prepare_data(config, no_measure, progress=False)
    split = load_prepared(tmp_path / "out").split
    assert split["strategy"] == "predefined" and summary["corpus"] == "GENES"
    assert [len(split[part]) for part in ("train", "validation", "test")] == [6, 2, 3]
    assert all(doc_id.startswith("devel-") for doc_id in split["validation"])
    assert list(summary["types"]) == ["GENE"]
    assert not plain_brat_folder(str(folder))


def test_random_split_of_a_single_type_corpus(tmp_path):
    """iterstrat refuses one label column ("Got 'binary'"): presence/absence of the type is stratified."""
    documents = load_documents(str(conll_corpus(tmp_path / "c", (20, 0, 0)) / "train.tsv"), progress=False)
    split = split_documents(documents.documents, validation_size=4, test_size=4)
    assert [len(split[part]) for part in ("train", "validation", "test")] == [12, 4, 4]
    with_gene = {d.id for d in documents.documents if d.spans}
    assert [len(with_gene & set(split[part])) for part in ("validation", "test")] == [2, 2]


def test_split_random_overrides_the_corpus_split(tmp_path):
    folder = conll_corpus(tmp_path / "genes", (10, 5, 5))
    config = DataConfig(data=str(folder), output_dir=str(tmp_path), split="random", validation_size=3, test_size=3)
    prepare_data(config, no_measure, progress=False)
    split = load_prepared(tmp_path).split
    assert split["strategy"] == "document" and [len(split[p]) for p in ("validation", "test")] == [3, 3]


# --- brat ------------------------------------------------------------------------------------------


def test_a_brat_folder_with_part_subfolders_is_its_own_split_and_copies_are_grouped(tmp_path):
    root = tmp_path / "corpus"
    brat_document(root / "train", "a", "BRCA1 binds p53.", [("GENE", "BRCA1"), ("GENE", "p53")])
    brat_document(root / "train" / "more", "b", "The TP53 gene.", [("GENE", "TP53")])
    brat_document(root / "devel", "c", "No gene here at all.", [])
    brat_document(root / "test", "d", "BRCA1  binds P53.", [("GENE", "BRCA1")])  # a copy of a, by text
    result = load_documents(str(root), progress=False)
    assert result.parts == {"train": ["a", "b"], "validation": ["c"], "test": ["d"]}
    by_id = {d.id: d for d in result.documents}
    assert by_id["a"].group == by_id["d"].group != by_id["b"].group
    summary = prepare_data(DataConfig(data=str(root), output_dir=str(tmp_path / "out")), no_measure, progress=False)
    assert summary["grouped_copies"] == 1 and summary["split"]["groups_in_two_parts"] == 1
    assert summary["split"]["strategy"] == "predefined" and summary["document_versions_removed"] == 0


def test_a_folder_holding_a_release_folder_is_searched_recursively(tmp_path):
    brat_document(tmp_path / "maccrobat" / "2020", "1", "A woman had fever.", [("Sex", "woman")])
    (document,) = load_documents(str(tmp_path / "maccrobat"), progress=False).documents
    assert (document.id, document.version) == ("1", "2020")
    assert plain_brat_folder(str(tmp_path / "maccrobat"))


def test_split_predefined_without_a_corpus_split_is_an_error(tmp_path):
    brat_document(tmp_path / "notes", "1", "A woman had fever.", [("Sex", "woman")])
    config = DataConfig(data=str(tmp_path / "notes"), output_dir=str(tmp_path), split="predefined")
    with pytest.raises(ConfigError, match="has no split of its own"):
        prepare_data(config, no_measure, progress=False)


def test_copies_in_a_random_split_never_straddle_parts(tmp_path):
    for number in range(12):
        text = f"Patient {number % 6} had fever."  # each text twice, under two names
        brat_document(tmp_path / "notes", f"n{number}", text, [("Sign_symptom", "fever")])
    config = DataConfig(
        data=str(tmp_path / "notes"), output_dir=str(tmp_path), versions="all", validation_size=2, test_size=2
    )
    summary = prepare_data(config, no_measure, progress=False)
    assert summary["grouped_copies"] == 6 and summary["split"]["groups_in_two_parts"] == 0
    assert [summary["split"][p] for p in ("train", "validation", "test")] == [4, 4, 4]  # 2 groups of 2 each


# --- Hugging Face datasets and split files ---------------------------------------------------------


def test_a_saved_dataset_keeps_its_train_validation_test_splits(tmp_path):
    import datasets

    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-GENE", "I-GENE"])),
        }
    )
    rows = {"tokens": [["BRCA1", "binds"], ["Cells", "grew"]], "ner_tags": [[1, 0], [0, 0]]}
    dataset = datasets.DatasetDict(
        {name: datasets.Dataset.from_dict(rows, features=features) for name in ("train", "validation", "test")}
    )
    dataset.save_to_disk(str(tmp_path / "genes"))
    result = load_documents(str(tmp_path / "genes"), progress=False)
    assert result.parts == {
        "train": ["train-00000", "train-00001"],
        "validation": ["validation-00000", "validation-00001"],
        "test": ["test-00000", "test-00001"],
    }
    assert result.documents[0].tags == ["B-GENE", "O"]
    (only,) = [load_documents(str(tmp_path / "genes"), progress=False, hf_split="test")]
    assert len(only.documents) == 2 and only.parts is None
    with pytest.raises(DataError, match="no split 'dev'; the dataset has train, validation, test"):
        load_documents(str(tmp_path / "genes"), progress=False, hf_split="dev")


def test_a_split_file_is_reused_and_its_unknown_or_missing_ids_are_errors(tmp_path):
    folder = conll_corpus(tmp_path / "genes", (4, 1, 1))
    ids = [f"train-0000{n}" for n in range(1, 5)] + ["devel-00001", "test-00001"]
    given = {"train": ids[2:], "validation": ids[:1], "test": ids[1:2]}
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps(given))
    config = DataConfig(data=str(folder), output_dir=str(tmp_path / "out"), split_file=str(split_file))
    summary = prepare_data(config, no_measure, progress=False)
    split = load_prepared(tmp_path / "out").split
    assert summary["split"]["strategy"] == "file" and all(split[p] == given[p] for p in given)
    split_file.write_text(json.dumps({**given, "test": ["test-00009"]}))
    with pytest.raises(DataError, match=r"1 ids are not in the data, e.g. \['test-00009'\]"):
        prepare_data(config, no_measure, progress=False)
    split_file.write_text(json.dumps({**given, "test": []}))
    with pytest.raises(DataError, match=r"1 documents of the data are in no part, e.g. \['train-00002'\]"):
        prepare_data(config, no_measure, progress=False)


# --- tiers, names, high-value types ----------------------------------------------------------------


def test_tier_thresholds_below_one_are_shares_of_training_mentions():
    counts = Counter({"A": 700, "B": 250, "C": 50})
    assert assign_tiers(counts, ["A", "B", "C"], frequent_above=0.5, rare_below=0.1) == {
        "A": "frequent",
        "B": "medium",
        "C": "rare",
    }
    assert assign_tiers(counts, ["A", "B", "C"]) == {"A": "medium", "B": "medium", "C": "rare"}  # counts


def test_the_corpus_name_defaults_to_the_data_folder_past_generic_names():
    assert corpus_name(DataConfig(data="../shared/data/maccrobat/brat/2020")) == "MACCROBAT"
    assert corpus_name(DataConfig(data="../shared/data/bc2gm/conll")) == "BC2GM"
    assert corpus_name(DataConfig(data="/data/My-Notes/train")) == "My-Notes"
    assert corpus_name(DataConfig(data="x", corpus_name="Ward notes")) == "Ward notes"


def test_the_report_title_and_pdf_name_carry_the_corpus():
    assert report_title("BC2GM") == "BC2GM named-entity recognition: Phase 1 report"
    assert pdf_name("v1", "Ward notes") == "report-Ward-notes-v1.pdf"


def test_high_value_types_must_be_types_of_the_corpus():
    with pytest.raises(ConfigError, match="Medication: not an entity type of this corpus; its types are DNA, GENE"):
        choose_high_value_types(["GENE", "Medication"], ["GENE", "DNA"], {})


def test_without_the_default_types_the_most_frequent_training_types_are_chosen_and_said():
    chosen, sentence = choose_high_value_types([], ["A", "B", "C", "D"], {"A": 5, "B": 50, "C": 20, "D": 20})
    assert chosen == ["B", "C", "D"]
    assert sentence.startswith("High-value types: the most frequent 3 types in training (B, C, D)")
    assert choose_high_value_types([], ["GENE"], {"GENE": 9})[0] == ["GENE"]
