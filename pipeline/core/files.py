"""Atomic file writes, JSON/JSONL helpers, and the machine's refusals of a file as one clear error.

Every output goes through `atomic_write_*`: the content is written to a temporary file in the
same folder and renamed over the target, so an interrupted run never leaves a half-written file.
The target gets the mode of any newly created file (0644 under the usual umask), not the private
0600 of the temporary file, so a web server or another user can read what the report links to.

A write the machine refuses (no space, a read-only file system, no permission, a file where a folder
belongs or the reverse) becomes a `FileSystemError` naming the path, the cause and the fix
(`file_system_error`, `file_system_faults`), and the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline.core.documents import DataError
from pipeline.core.errors import CorruptOutputError, FileSystemError, PipelineError

FREE_SPACE = "free space on that disk (or write somewhere else)"
NOT_WRITABLE = "write somewhere else, or make it writable"
# errno -> (the cause, the fix) of the machine's refusals of a file
FILE_SYSTEM_FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", FREE_SPACE),
    errno.EDQUOT: ("the disk quota is used up", FREE_SPACE),
    errno.EFBIG: (
        "the file is larger than the file-size limit (ulimit -f) or the file system allows",
        "raise the limit or write somewhere else",
    ),
    errno.EROFS: ("the file system is read-only", "write somewhere else"),
    errno.EACCES: ("permission denied", NOT_WRITABLE),
    errno.EPERM: ("operation not permitted", NOT_WRITABLE),
    errno.EISDIR: ("a folder where a file is expected", "give the path of a file"),
    errno.ENOTDIR: ("a file where a folder is expected", "move that file or write somewhere else"),
    errno.EEXIST: ("a file where a folder is expected", "move that file or write somewhere else"),
}
PROBE_BYTES = 1 << 20  # what a folder must still take for a failed write to be put down to the machine


def blocking_file(path: Path) -> Path | None:
    """The file that stands where `path` or one of its folders should be (ENOTDIR, EEXIST of mkdir)."""
    return next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)


def file_system_error(
    exc: BaseException, path: str | Path | None = None, own_name: bool = True
) -> FileSystemError | None:
    """The machine's refusal behind `exc` (itself, or what it was raised from or during: a library's own
    error around an OSError) as one `FileSystemError` naming the OSError's file (`own_name`, when it has
    one) or else `path`, the cause and the fix; None when no such refusal is behind it (a bug keeps its
    traceback)."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in FILE_SYSTEM_FAULTS:
            return describe_fault(error.errno, error.filename if own_name and error.filename else path)
        error = error.__cause__ or error.__context__
    return None


def describe_fault(code: int, path: str | Path | None) -> FileSystemError | None:
    """`<path>: <cause> (<ERRNO>); <fix>`; None for an EEXIST that no file in the way explains."""
    cause, fix = FILE_SYSTEM_FAULTS[code]
    if code in (errno.ENOTDIR, errno.EEXIST):
        found = blocking_file(Path(path)) if path is not None else None
        if found is None and code == errno.EEXIST:
            return None
        if found is not None:
            cause = "a file, not a folder" if str(found) == str(path) else f"{found} is a file, not a folder"
    return FileSystemError(f"{path or 'an output file'}: {cause} ({errno.errorcode[code]}); {fix}")


def probe_folder(folder: Path) -> OSError | None:
    """Try to write `PROBE_BYTES` into `folder` (a file that leaves no name behind): the machine's own
    refusal, or None when the folder takes them. For writers that fail without an errno (torch's
    `unexpected pos` when the disk is full)."""
    try:
        with tempfile.TemporaryFile(dir=folder) as handle:
            handle.write(bytes(PROBE_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        return exc
    return None


@contextlib.contextmanager
def file_system_faults(path: str | Path, probe: bool = False, own_name: bool = True) -> Iterator[None]:
    """Turn a file operation the machine refuses into one `FileSystemError` naming the file it refused
    (`own_name`, when the error names one) or else `path`. With `probe`, an error without an errno is put
    down to the machine when the nearest existing folder of `path` cannot take `PROBE_BYTES` either;
    anything else is re-raised as it was."""
    try:
        yield
    except PipelineError:
        raise
    except Exception as exc:
        fault = file_system_error(exc, path, own_name)
        if fault is None and probe:
            folder = next((p for p in (Path(path), *Path(path).parents) if p.is_dir()), None)
            refusal = probe_folder(folder) if folder is not None else None
            fault = file_system_error(refusal, path, own_name=False) if refusal is not None else None
        if fault is None:
            raise
        raise fault from exc


def check_writable(path: str | Path) -> None:
    """Fail now, before any work, when a file cannot be made at `path`: a file stands where one of its folders
    belongs, or its folder (made when missing) takes no new file. (A folder at `path` itself is the caller's
    to refuse, naming its flag.)"""
    path = Path(path)
    with file_system_faults(path, own_name=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass


def new_file_mode() -> int:
    """The mode `open()` gives a new file: 0666 less the process umask (read without changing it)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` whole or not at all; a refusal of the machine is a `FileSystemError` naming `path`
    (not the temporary file's name, which means nothing to the reader)."""
    path = Path(path)
    with file_system_faults(path, own_name=False):
        if path.is_dir():  # os.replace would say so only after the whole file is written
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
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
