"""Which inference variants bench times on this machine when none are asked for, and which of the default
list it skips there and why: int8 and bf16 variants the CPU has no instructions for, variants whose
package is not installed."""

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
INT8_INSTRUCTIONS = ("avx512_vnni", "avx_vnni", "amx_int8")  # int8 dot products in one instruction


def probe_text(peak: dict[str, float | None], number_format: str) -> str:
    """'probe: int8 1.6 GOP/s, fp32 62 GFLOP/s', the numbers a skip rests on."""

    def one(name: str) -> str:
        value = peak.get(name)
        unit = "GOP/s" if name == "int8" else "GFLOP/s"
        return f"{name} {value:g} {unit}" if value is not None else f"{name} not measurable"

    return f"probe: {one(number_format)}, {one('fp32')}"


def instruction_skips(
    variants: Sequence[str], flags: Sequence[str], peak: dict[str, float | None]
) -> list[dict[str, str]]:
    """The variants this CPU cannot run fast, each with why and the probe's numbers: an int8 variant without
    int8 dot-product instructions (VNNI, AMX), unless the probe's int8 matmuls are at least as fast as its
    fp32 ones (the flags are read on x86 Linux only) and except onnx-int8 on an AVX2 CPU (ONNX Runtime's
    own int8 kernels use AVX2 byte dot products, which the torch probe does not measure: on an AVX2-only
    EPYC onnx-int8 was bench's fastest variant); bf16 without AMX (on an Intel CPU with AVX-512 BF16
    but no AMX, torch bf16 ran 3-5x slower than fp32). `flags`: `machine_probe.cpu_flags()`; `peak`: the
    CPU's `machine_probe.peak_probe()`."""
    fp32, int8 = peak.get("fp32"), peak.get("int8")
    int8_wins = int8 is not None and fp32 is not None and int8 >= fp32
    skipped = []
    for variant in variants:
        number_format = NUMBER_FORMAT.get(variant, "fp32")
        reason = None
        onnx_avx2 = variant == "onnx-int8" and "avx2" in flags
        if number_format == "int8" and not set(INT8_INSTRUCTIONS) & set(flags) and not int8_wins and not onnx_avx2:
            reason = "no VNNI/AMX int8 instructions"
        elif number_format == "bf16" and "amx_bf16" not in flags:
            reason = (
                "AVX-512 BF16 without AMX, where torch bf16 ran 3-5x slower than fp32"
                if "avx512_bf16" in flags
                else "no AVX-512 BF16/AMX bf16 instructions"
            )
        if reason:
            skipped.append({"variant": variant, "reason": f"{reason} ({probe_text(peak, number_format)})"})
    return skipped


def default_subjects(
    kind: str, device: str, config: BenchConfig, flags: Sequence[str], peak: dict[str, float | None]
) -> tuple[list[str], list[dict[str, str]]]:
    """The variants timed, and those of the default list skipped with why ({variant, reason}): what the user
    asks for as asked; else on a GPU its variants; on a CPU fp32, bf16, int8, onnx, onnx-int8 and
    openvino-int8 less those `instruction_skips` drops on this CPU (`flags`, the CPU's `peak`) and those
    whose package is not installed."""
    if kind == "crf":
        return ["crf"], []
    if config.variants:
        return list(config.variants), []
    if device.startswith("cuda"):
        return list(GPU_VARIANTS), []
    candidates = [CPU_VARIANTS[0], "bf16", *CPU_VARIANTS[1:]]
    skipped = instruction_skips(candidates, flags, peak)
    for variant in candidates:
        missing = missing_packages(variant)
        if missing and variant not in {skip["variant"] for skip in skipped}:
            packages = f"the {' and '.join(missing)} package{'s are' if len(missing) > 1 else ' is'} not installed"
            skipped.append({"variant": variant, "reason": packages})
    skipped.sort(key=lambda skip: candidates.index(skip["variant"]))
    for skip in skipped:
        log.info("bench: %s skipped (%s)", skip["variant"], skip["reason"])
    dropped = {skip["variant"] for skip in skipped}
    return [variant for variant in candidates if variant not in dropped], skipped
