"""The base of every expected error: bad input, a missing or stale output, an unreachable model, a full disk.

The CLI prints a `PipelineError` as one line and exits 2; any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations


class PipelineError(Exception):
    """An error the user can act on; its message names the file, line, document or option at fault."""


class ConfigError(PipelineError, ValueError):
    """A bad option or configuration value: an unknown field, a value outside its choices."""


class MissingInputError(PipelineError, FileNotFoundError):
    """A file a stage needs is missing; the message says which command makes it."""


class StaleOutputError(PipelineError):
    """A record under `outputs/` written by another version of the pipeline (its `schema_version` differs)."""


class CorruptOutputError(PipelineError):
    """A record under `outputs/` that is not valid JSON (a truncated or hand-edited file)."""


class UnreachableModelError(PipelineError):
    """A hub model or data set that is neither cached nor reachable (offline, no such repository)."""


class FileSystemError(PipelineError):
    """The machine refused a file: no space left, a read-only file system, no permission, a file where a
    folder belongs or a folder where a file belongs; the message names the path, the cause and the fix."""


class OutputsLockedError(PipelineError):
    """Another live command is writing the same `outputs/` folder (its lock names the holder)."""
