"""What a record says about where it came from: package versions, the git commit, the machine, peak memory."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def cpu_info() -> dict[str, str]:
    """Each field of Linux /proc/cpuinfo ("model name", "flags", ...) as its first core lists it, read once;
    empty elsewhere."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in lines:
        if ":" in line:
            key, value = line.split(":", 1)
            fields.setdefault(key.strip(), " ".join(value.split()))
    return fields


# The instruction sets that decide which inference and training paths are fast, strongest first.
VECTOR_KINDS = (("amx_tile", "AMX"), ("avx512_vnni", "AVX-512 VNNI"), ("avx512f", "AVX-512"), ("avx2", "AVX2"))


def machine() -> dict[str, str | int | None]:
    """Where a timed record ran, so every speed figure can name it: the CPU's model name (or
    `platform.processor()`), its strongest vector instruction set (`VECTOR_KINDS`; "unknown" where the OS does
    not list flags), the cores this process may use, and the GPU (None without CUDA; torch is asked only when
    already imported, so recording this stays cheap)."""
    info = cpu_info()
    flags = info.get("flags", "").split()
    torch = sys.modules.get("torch")
    gpu = torch.cuda.get_device_name() if torch is not None and torch.cuda.is_available() else None
    return {
        "cpu": info.get("model name") or platform.processor() or "unknown CPU",
        "vector": next((name for flag, name in VECTOR_KINDS if flag in flags), "unknown" if not flags else "none"),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "gpu": gpu,
    }


def machine_name(record: Any) -> str:
    """A machine record in words: "Intel(R) Xeon(R) Processor (AMX, 2 cores)", with the GPU when there was one;
    "an unrecorded machine" for records written before machines were recorded."""
    if not record:
        return "an unrecorded machine"
    name = f"{record['cpu']} ({record['vector']}, {record['cores']} cores)"
    return f"{record['gpu']} with {name}" if record.get("gpu") else name


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
