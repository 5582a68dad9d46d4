"""Raw clinical notes for `predict`: read from a .txt file, a folder of .txt, a .jsonl or stdin.

A note is `Note(id, text)`; one that cannot be read becomes `Note(id, None, error)` so that the batch
goes on and the output still gets one record per note. Ids: a file's path relative to the input
folder without `.txt`; the `"id"` of a JSON line. Notes are split into words with the same splitter
as the brat conversion (`pipeline.data.brat.word_offsets`), so a model sees words as it did in training.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.core.errors import MissingInputError
from pipeline.data.brat import word_offsets

BINARY_SNIFF_BYTES = 8192


@dataclass
class Note:
    id: str
    text: str | None
    error: str | None = None


def decode_note(data: bytes, where: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, error): a NUL byte means binary; text must be UTF-8 and not blank."""
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        return None, f"{where}: binary file (NUL byte), not a text note"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"{where}: not UTF-8 (byte {exc.start}: {data[exc.start : exc.start + 1]!r})"
    if not text.strip():
        return None, f"{where}: empty note"
    return text, None


def read_txt(path: Path, note_id: str) -> Note:
    text, error = decode_note(path.read_bytes(), str(path))
    return Note(note_id, text, error)


def read_json_lines(lines: Iterable[bytes | str], where: str) -> Iterator[Note]:
    """Notes from JSON lines {"id", "text"}; a bad line (not UTF-8, not JSON, no text) becomes an error
    record named by its line. Bytes are decoded strictly: a replaced byte would be predicted silently."""
    for number, raw in enumerate(lines, start=1):
        if isinstance(raw, bytes):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Note(
                    line_id(raw.decode("utf-8", errors="replace"), f"line-{number}"),
                    None,
                    f"{where}:{number}: not UTF-8 (byte {exc.start} of the line: {raw[exc.start : exc.start + 1]!r})",
                )
                continue
        else:
            line = raw
        if not line.strip():
            continue
        fallback = f"line-{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Note(fallback, None, f"{where}:{number}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            yield Note(
                str(row.get("id", fallback)) if isinstance(row, dict) else fallback,
                None,
                f'{where}:{number}: expected an object with a string "text"',
            )
            continue
        note_id = str(row.get("id", fallback))
        if not row["text"].strip():
            yield Note(note_id, None, f"{where}:{number}: empty note")
        else:
            yield Note(note_id, row["text"])


def line_id(line: str, fallback: str) -> str:
    """The "id" of a JSON line if it can be read at all (to name the error record of an undecodable line)."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return fallback
    return str(row["id"]) if isinstance(row, dict) and "id" in row else fallback


def read_notes(source: str | Path, stdin: IO[str] | IO[bytes] | None = None) -> Iterator[Note]:
    """Every note of `source` in a stable order: `-` (JSON lines on stdin), .jsonl, .txt or a folder."""
    if str(source) == "-":
        if stdin is None:
            import sys

            stdin = sys.stdin.buffer  # bytes: decoded strictly line by line
        yield from read_json_lines(stdin, "<stdin>")
        return
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise MissingInputError(f"{path} holds no .txt files")
        for file in files:
            yield read_txt(file, file.relative_to(path).with_suffix("").as_posix())
    elif not path.exists():
        raise MissingInputError(f"input {path} not found")
    elif path.suffix == ".jsonl":
        with open(path, "rb") as handle:
            yield from read_json_lines(handle, str(path))
    else:
        yield read_txt(path, path.stem)


def note_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Words and their character ranges [start, end) in `text`."""
    ranges, _ = word_offsets(text)
    return [text[start:end] for start, end in ranges], ranges
