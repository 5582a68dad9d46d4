"""Atomic file writes and JSON/JSONL helpers.

Every output goes through `atomic_write_*`: the content is written to a temporary file in the
same folder and renamed over the target, so an interrupted run never leaves a half-written file.
The target gets the mode of any newly created file (0644 under the usual umask), not the private
0600 of the temporary file, so a web server or another user can read what the report links to.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline.core.documents import DataError
from pipeline.core.errors import CorruptOutputError


def new_file_mode() -> int:
    """The mode `open()` gives a new file: 0666 less the process umask (read without changing it)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(obj: Any) -> Any:
    # numpy scalars/arrays and Paths appear in metric dictionaries; make them plain JSON.
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, to_json(obj))


def read_json(path: str | Path) -> Any:
    """Parse a JSON file; a file that is not JSON raises `CorruptOutputError` naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise CorruptOutputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "rebuild it or restore it from a backup"
        ) from exc
    except UnicodeDecodeError as exc:
        raise CorruptOutputError(f"{path}: not UTF-8 (byte {exc.start}); rebuild it or restore it") from exc


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> Path:
    lines = [json.dumps(row, ensure_ascii=False, default=_json_default) for row in rows]
    return atomic_write_text(path, "".join(line + "\n" for line in lines))


def jsonl_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object or the `DataError` naming that line), so that a reader can
    record a line that is not UTF-8 or not JSON and carry on with the next; blank lines are skipped."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield (
                    number,
                    DataError(where, f"not UTF-8 (byte {exc.start} of the line: {raw[exc.start : exc.start + 1]!r})"),
                )
                continue
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, DataError(where, f"not valid JSON ({exc.msg})")


def read_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, parsed object); a line that is not JSON raises naming file and line."""
    for number, row in jsonl_lines(path):
        if isinstance(row, DataError):
            raise row
        yield number, row


def sha256_of(obj: Any) -> str:
    """Stable hash of a JSON-serialisable object (used to key cached stages and splits)."""
    payload = json.dumps(obj, sort_keys=True, ensure_ascii=False, default=_json_default)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def sha256_of_files(paths: Iterable[str | Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
