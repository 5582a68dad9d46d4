"""The project speaks only of itself: what a user reads never narrates how the work was organised.

Scanned: README.md, docs/*.md, the report notebooks (markdown, and the strings and comments of code
cells), the help of every command (`build_parser`) and every string of the reporting package (the
report's sentences). Caught: issue references, people and work sessions, git branches and merges,
rounds of work relative to each other, machines lent or borrowed, and git commit hashes outside a
version string. Words the product itself uses (windows merged per word, interleaved timing rounds, an
ONNX Runtime InferenceSession) pass.
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

PROCESS_PHRASES = {
    "an issue reference": r"\bissues?\s*#?\d+|(?:^|(?<=[\s(]))#\d+\b|\bthe issue'?s\b",
    "a person or a work session": r"\b(engineers?|colleagues?|teammates?|sessions?)\b",
    "a git branch or merge": r"\bbranch(es)?\b|\bmerged?\s+(in)?to\s+(main|master)\b|\b(pull|merge)\s+requests?\b",
    "a round of work": r"\b(earlier|previous|this|next)\s+(rounds?|sessions?|sprints?)\b"
    r"|\b(previous|earlier|last)\s+`?make report\b",
    "a machine lent for a while": r"\b(lent|borrowed|loaned)\b",
}
# 7 to 40 hex digits with at least one digit and one letter (a date or a word alone is no hash)
COMMIT_HASH = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b", re.IGNORECASE)
# a PEP 440 version with a local part, as the report's versions are: 0.1.0+ab12cd3.20261128
VERSION_STRING = re.compile(r"\b\d+(\.\d+)+\+[0-9a-z]+(\.[0-9a-z]+)*", re.IGNORECASE)


def process_phrases(text: str) -> list[tuple[int, str]]:
    """Each phrase of `text` that narrates the work's organisation: (its offset, 'what: phrase'). A phrase
    may span lines (help texts and paragraphs wrap)."""
    found = [
        (match.start(), f"{what}: {match.group(0)!r}")
        for what, pattern in PROCESS_PHRASES.items()
        for match in re.finditer(pattern, text, re.IGNORECASE)
    ]
    versions = [match.span() for match in VERSION_STRING.finditer(text)]
    found += [
        (match.start(), f"a commit hash: {match.group(0)!r}")
        for match in COMMIT_HASH.finditer(text)
        if not any(start <= match.start() < end for start, end in versions)
    ]
    return sorted(found)


def phrases(text: str) -> list[str]:
    return [hit for _, hit in process_phrases(text)]


def findings(texts: Iterator[tuple[str, str]]) -> list[str]:
    """'where:line: what' for every process phrase in (where, text) pairs."""
    return [
        f"{where}:{text.count(chr(10), 0, offset) + 1}: {hit}"
        for where, text in texts
        for offset, hit in process_phrases(text)
    ]


def markdown_files(root: Path) -> Iterator[tuple[str, str]]:
    for path in [root / "README.md", *sorted((root / "docs").glob("**/*.md"))]:
        if path.exists():
            yield str(path.relative_to(root)), path.read_text(encoding="utf-8")


def python_strings(source: str) -> Iterator[str]:
    """Every string literal (docstrings and f-string parts included) and every comment of a Python source."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.string


def notebook_texts(root: Path) -> Iterator[tuple[str, str]]:
    """The markdown of every report notebook, and the strings and comments of its code cells."""
    for path in sorted((root / "report").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            source = "".join(cell["source"])
            texts = [source] if cell["cell_type"] == "markdown" else list(python_strings(source))
            yield from ((f"{path.relative_to(root)} cell {index}", text) for text in texts)


def reporting_strings(root: Path) -> Iterator[tuple[str, str]]:
    """The strings of the reporting package: the report's sentences, captions and column names."""
    for path in sorted((root / "pipeline" / "reporting").glob("*.py")):
        for text in python_strings(path.read_text(encoding="utf-8")):
            yield str(path.relative_to(root)), text


def help_texts(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str]]:
    """The --help of the parser and of every command under it, each named by its usage (`prog`)."""
    yield parser.prog, parser.format_help()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from help_texts(sub)


def cli_help() -> Iterator[tuple[str, str]]:
    from pipeline.cli import build_parser

    return help_texts(build_parser())


SOURCES = {
    "README and docs": lambda: markdown_files(REPO),
    "report notebooks": lambda: notebook_texts(REPO),
    "report sentences": lambda: reporting_strings(REPO),
    "command help": cli_help,
}


@pytest.mark.parametrize("source", list(SOURCES))
def test_user_facing_text_speaks_only_of_the_product(source):
    assert findings(SOURCES[source]()) == []


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("The bench stage has grown since (issue 17: more windows).", "an issue reference"),
        ("as asked in #17", "an issue reference"),
        ("the check that keeps it so\n(#24)", "an issue reference"),
        ("faster than the previous\n  session's runs", "a round of work"),
        ("The issue's targets are not reached.", "an issue reference"),
        ("four other engineers' jobs kept the load high", "a person or a work session"),
        ("Every number equals this session's make report.", "a person or a work session"),
        ("the docs branch", "a git branch or merge"),
        ("once it is merged into main", "a git branch or merge"),
        ("measured in the earlier round", "a round of work"),
        ("identical to the previous `make report`", "a round of work"),
        ("This task was lent one H200 for 15 minutes.", "a machine lent for a while"),
        ("on a borrowed GPU", "a machine lent for a while"),
        ("from a fresh clone of commit 4da4ba3", "a commit hash"),
        ("fixed in 72f13c5e0b1d", "a commit hash"),
    ],
)
def test_each_kind_of_process_phrase_is_caught(text, what):
    assert [hit for hit in phrases(text) if hit.startswith(what)], phrases(text)


@pytest.mark.parametrize(
    "text",
    [
        "window predictions merged per word",
        "3 interleaved rounds; the ratio in a round is over the reference block before it",
        "onnxruntime.InferenceSession runs the graph",
        "report version 0.1.0+ab12cd3.20261128 (package version, git short commit, date)",
        "gold spans in #bfdbfe, dates such as 20261128, a decade of notes",
        "bad bytes are never replaced silently",
        "an id that repeats is written as <id>#2, <id>#3",
    ],
)
def test_words_the_product_uses_pass(text):
    assert phrases(text) == []


def test_a_process_phrase_added_to_the_readme_fails_the_check(tmp_path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (tmp_path / "README.md").write_text(readme + "\nMeasured on the GPU we borrowed this session.\n", encoding="utf-8")
    line = len(readme.splitlines()) + 2
    assert findings(markdown_files(tmp_path)) == [
        f"README.md:{line}: a machine lent for a while: 'borrowed'",
        f"README.md:{line}: a round of work: 'this session'",
        f"README.md:{line}: a person or a work session: 'session'",
    ]


def test_a_process_phrase_in_a_notebook_string_or_a_help_text_fails_the_check(tmp_path):
    (tmp_path / "report").mkdir()
    cell = {"cell_type": "code", "source": ['display(Markdown("as issue 24 asked"))  # see 72f13c5\n']}
    (tmp_path / "report" / "page.ipynb").write_text(json.dumps({"cells": [cell]}), encoding="utf-8")
    assert findings(notebook_texts(tmp_path)) == [
        "report/page.ipynb cell 0:1: an issue reference: 'issue 24'",
        "report/page.ipynb cell 0:1: a commit hash: '72f13c5'",
    ]
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_subparsers().add_parser("bench").add_argument("--x", help="faster than the previous session's")
    assert any("tool bench" in hit and "previous session" in hit for hit in findings(help_texts(parser)))
