"""Where a record came from: the machine every speed figure names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.core import provenance
from pipeline.core.provenance import machine, machine_name

EPYC_FLAGS = "fpu sse sse2 avx avx2 fma bmi2"  # an AMD EPYC of 2 GHz: AVX2, no AVX-512


@pytest.mark.parametrize(
    ("flags", "vector"),
    [
        (EPYC_FLAGS, "AVX2"),
        (EPYC_FLAGS + " avx512f avx512bw", "AVX-512"),
        (EPYC_FLAGS + " avx512f avx512_vnni avx512_bf16", "AVX-512 VNNI"),
        (EPYC_FLAGS + " avx512f avx512_vnni amx_tile amx_bf16", "AMX"),
        ("fpu sse sse2", "none"),
        ("", "unknown"),  # an OS that lists no flags
    ],
)
def test_the_machine_is_named_by_its_strongest_vector_instruction_set(monkeypatch, flags, vector):
    fields = {"model name": "AMD EPYC 7B13 64-Core Processor", "flags": flags}
    monkeypatch.setattr(provenance, "cpu_info", lambda: fields)
    record = machine()
    assert (record["cpu"], record["vector"], record["gpu"]) == ("AMD EPYC 7B13 64-Core Processor", vector, None)


def test_the_cores_are_those_this_process_may_use():
    assert machine()["cores"] == len(os.sched_getaffinity(0))


def test_this_cpus_model_name_is_read_from_proc_cpuinfo():
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    expected = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    assert machine()["cpu"] == " ".join(expected.split())


def test_a_machine_in_words_names_the_cpu_its_vector_set_cores_and_gpu():
    cpu = {"cpu": "Intel(R) Xeon(R) Processor", "vector": "AMX", "cores": 2, "gpu": None}
    assert machine_name(cpu) == "Intel(R) Xeon(R) Processor (AMX, 2 cores)"
    gpu = {**cpu, "gpu": "NVIDIA H100 80GB HBM3"}
    assert machine_name(gpu) == "NVIDIA H100 80GB HBM3 with Intel(R) Xeon(R) Processor (AMX, 2 cores)"
    assert machine_name(None) == "an unrecorded machine"  # records written before machines were recorded
