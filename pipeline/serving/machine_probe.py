"""What bench measures of the machine before timing anything: the CPU's bf16 / int8 instruction sets, the
matmul peak of each number format (CPU and GPU), and the versions of the inference libraries."""

from __future__ import annotations

import time
from typing import Any

from pipeline.core.provenance import cpu_info
from pipeline.modeling.backends import OPTIONAL_PACKAGES

NUMBER_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def cpu_flags() -> list[str]:
    """The bf16 / int8 instruction sets this CPU reports (Linux /proc/cpuinfo; empty elsewhere)."""
    wanted = ("avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni", "avx_vnni")
    flags = cpu_info().get("flags", "").split()
    return [flag for flag in wanted if flag in flags]


def peak_probe(seconds: float = 0.3, device: str = "cpu") -> dict[str, float | None]:
    """The matmul throughput of this machine's CPU, or of its GPU (GFLOP/s; GOP/s for int8): the best of
    repeated products over about `seconds` per format, with 1024x1024 operands on a CPU and 8192x8192 on
    a GPU (smaller ones leave a data-centre GPU idle); null where torch cannot run the format there."""
    import torch

    gpu = device.startswith("cuda")
    size = 8192 if gpu else 1024
    formats = ("fp32", "fp16", "bf16", "int8") if gpu else ("fp32", "bf16", "int8")
    finish = torch.cuda.synchronize if gpu else (lambda: None)
    result: dict[str, float | None] = {}
    for name in formats:
        try:
            if name == "int8":
                a = torch.randint(-64, 64, (size, size), dtype=torch.int8, device=device)

                def product(a: Any = a) -> Any:
                    return torch._int_mm(a, a)
            else:
                a = torch.randn(size, size, device=device).to(getattr(torch, NUMBER_DTYPES[name]))

                def product(a: Any = a) -> Any:
                    return a @ a

            product()
            finish()
            best, deadline = float("inf"), time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                product()
                finish()
                best = min(best, time.perf_counter() - start)
            result[name] = round(2 * size**3 / best / 1e9, 1)
        except RuntimeError:  # e.g. no int8 matmul kernel on this CPU / torch build
            result[name] = None
    return result


def onnx_versions() -> dict[str, str]:
    import importlib.metadata
    import importlib.util

    optional = (package for packages in OPTIONAL_PACKAGES.values() for package in packages)
    names = ("onnx", "onnxruntime", *(p for p in optional if importlib.util.find_spec(p)))
    return {name: importlib.metadata.version(name) for name in names}
