"""Which inference variants bench times on this machine when none are asked for."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pipeline.config import BenchConfig
from pipeline.modeling.backends import CPU_VARIANTS, GPU_VARIANTS, missing_packages

log = logging.getLogger(__name__)
CPU_GPU_VARIANTS = ("fp32", "onnx-int8")  # on a GPU machine, the CPU rows set beside the GPU ones
NUMBER_FORMAT = {  # the number format a variant computes in: the peak its share is of
    "fp32": "fp32",
    "onnx": "fp32",
    "fp16": "fp16",
    "bf16": "bf16",
    "int8": "int8",
    "onnx-int8": "int8",
    "openvino-int8": "int8",
}


def default_subjects(kind: str, device: str, config: BenchConfig, flags: Sequence[str]) -> list[str]:
    """Variants timed when none are asked for: bf16 on a CPU only with AMX (measured on an Intel CPU with
    AVX-512 BF16 but no AMX, torch bf16 ran 3-5x slower than fp32)."""
    if kind == "crf":
        return ["crf"]
    if config.variants:
        return list(config.variants)
    if device.startswith("cuda"):
        return list(GPU_VARIANTS)
    bf16 = ["bf16"] if "amx_bf16" in flags else []
    missing = [variant for variant in CPU_VARIANTS if missing_packages(variant)]
    for variant in missing:
        log.info(
            "bench: %s skipped (the %s package is not installed)", variant, " and ".join(missing_packages(variant))
        )
    return [CPU_VARIANTS[0], *bf16, *(v for v in CPU_VARIANTS[1:] if v not in missing)]
