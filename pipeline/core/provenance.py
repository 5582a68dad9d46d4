"""What a record says about where it came from: package versions, the git commit, peak memory."""

from __future__ import annotations

import importlib.metadata
import platform
import resource
import subprocess
import sys
from pathlib import Path

from pipeline import __version__

PACKAGES = (
    "torch",
    "transformers",
    "accelerate",
    "datasets",
    "seqeval",
    "nervaluate",
    "sklearn-crfsuite",
    "numpy",
    "wandb",
    "iterative-stratification",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "pipeline": __version__}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str | None:
    """HEAD of the checkout the package runs from, `-dirty` when tracked files changed; None outside git."""
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=here)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
            cwd=here,
        ).stdout.strip()
        return result.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def peak_cpu_memory_mb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
