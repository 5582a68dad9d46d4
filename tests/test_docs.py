"""The README and docs/ match the code: a short README with the quick start on its first screen, links
that resolve, and only commands and flags the command line has."""

from __future__ import annotations

import argparse
import re

import pytest
from conftest import REPO

from pipeline.cli import build_parser

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FIRST_SCREEN = 60  # lines a newcomer sees before scrolling
# flags of other programs the docs show beside ours (torchrun, accelerate, venv, nbconvert, ruff)
OTHER_PROGRAMS_FLAGS = {
    "--nproc_per_node",
    "--nnodes",
    "--rdzv-endpoint",
    "--num_processes",
    "--system-site-packages",
    "--no-input",
    "--to",
    "--check",
}
FLAG = r"(?<![\w-])--[a-z][a-z0-9_-]*[a-z0-9](?![\w*-])"  # a whole flag, not a family such as `--conll-*`


def commands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def flags(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def invocations(text: str) -> list[tuple[str, list[str]]]:
    """(command, flags) of every `python -m pipeline <command> ...` in a code span or a code line."""
    found = []
    for match in re.finditer(r"-m pipeline ([a-z][a-z-]*)([^`\n#|]*)", text):
        found.append((match.group(1), re.findall(FLAG, match.group(2))))
    return found


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 260


def test_the_first_screen_has_the_quick_start_the_report_location_and_predict():
    first = "\n".join((REPO / "README.md").read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN])
    for needed in ("make report", "make test", "outputs/report/latest/", "python -m pipeline predict"):
        assert needed in first, needed


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_relative_link_resolves(doc):
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8"))
    missing = [t for t in targets if not t.startswith("http") and not (doc.parent / t).exists()]
    assert missing == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_command_and_flag_shown_exists(doc):
    text = doc.read_text(encoding="utf-8")
    known = commands()
    for command, shown in invocations(text):
        assert command in known, f"{doc.name}: no command {command}"
        assert set(shown) <= flags(known[command]), f"{doc.name}: {command} has no {set(shown) - flags(known[command])}"
    every = set().union(*map(flags, known.values())) | OTHER_PROGRAMS_FLAGS
    assert set(re.findall(FLAG, text)) - every == set()


def test_the_flag_check_finds_a_flag_the_command_lacks():
    assert invocations("`python -m pipeline bench --run minilm --turbo`") == [("bench", ["--run", "--turbo"])]
    assert "--turbo" not in flags(commands()["bench"])
