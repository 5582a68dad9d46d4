"""bench's worker pool: the subjects it times, each loaded in its own Python process
(`pipeline.serving.bench_worker`) so that its peak memory is its own, and the interleaved timing rounds
(reference, variant 1, reference, variant 2, ...) that pair each subject's block with the reference block
just before it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from pipeline.config import BenchConfig, PredictConfig
from pipeline.core.errors import ConfigError, MissingInputError, PipelineError
from pipeline.core.layout import RunFolder, read_run_config
from pipeline.modeling.backends import CPU_ONLY, encoder_run
from pipeline.modeling.tagger import tagger_kind
from pipeline.serving.predict import chosen_inference


class BenchError(PipelineError):
    """A bench worker failed; the message carries the end of its log."""


@dataclasses.dataclass
class Subject:
    """One thing to time: a run kind's model in one variant and windowing, or the reference pipeline."""

    kind: str
    variant: str
    device: str
    windows: tuple[int, int] | None = None  # (max_length, overlap) at inference; None: the run's own
    beside_gpu: bool = False  # one of the CPU rows of a GPU bench
    part: bool = False  # a combined run's transformer part alone, timed beside the combined run
    student: str = ""  # the name of a lighter run timed beside this one, as predict runs it

    @property
    def label(self) -> str:
        if self.kind == "reference":
            return "transformers pipeline"
        prefix = "transformer part: " if self.part else (f"{self.student}: " if self.student else "")
        name = prefix + self.variant + (" (CPU)" if self.beside_gpu else "")
        return name + (f" {self.windows[0]}/{self.windows[1]}" if self.windows else "")


ENCODER_KINDS = ("transformer", "combined")  # the kinds of run that read text through a transformer


def run_kind(run_dir: Path) -> str:
    """ "crf", "combined" or "transformer" (`pipeline.modeling.tagger.tagger_kind`), once the model it names
    is there (a new kind of run adds one runner in `pipeline.serving.bench_worker.RUNNERS`)."""
    kind, folder = tagger_kind(run_dir), RunFolder(run_dir)
    saved = folder.crf_model if kind == "crf" else RunFolder(encoder_run(run_dir)).model / "config.json"
    if not saved.exists():
        raise MissingInputError(f"{run_dir}: neither a transformer model nor a CRF under {folder.model}")
    return kind


def served_subject(run_dir: Path, device: str) -> Subject:
    """A combined run as `predict` runs it (`chosen_inference`): its transformer part in the variant and
    windows bench chose for the transformer run, or fp32 with the run's windows without that choice."""
    chosen = chosen_inference(run_dir, PredictConfig())
    return Subject("combined", chosen.variant, "cpu" if chosen.variant in CPU_ONLY else device, chosen.windows)


def part_subject(served: Subject) -> Subject:
    """A combined run's transformer part alone in the variant and windows the combined run is `served` in:
    timed in the same rounds, it measures what the CRF part adds to a note's time."""
    return Subject("transformer", served.variant, served.device, served.windows, part=True)


def student_subject(student_dir: Path, run_dir: Path, device: str) -> Subject:
    """A lighter run (fewer layers, shorter windows) as `predict` runs it, to be timed beside `run_dir`: it must
    be a transformer run of the same split and tag set, or its F1 could not be set beside this run's."""
    if run_kind(student_dir) != "transformer":
        raise ConfigError(
            f"--students {student_dir.name}: a student is a transformer run, not a {run_kind(student_dir)} run"
        )
    mine, theirs = read_run_config(run_dir), read_run_config(student_dir)
    for key, what in (("split_hash", "split"), ("tag2id", "tag set")):
        if mine.get(key) != theirs.get(key):
            raise ConfigError(
                f"--students {student_dir.name}: trained on another {what} than {run_dir.name}, so their F1 and "
                "documents cannot be set side by side"
            )
    chosen = chosen_inference(student_dir, PredictConfig())
    place = "cpu" if chosen.variant in CPU_ONLY else device
    return Subject("transformer", chosen.variant, place, chosen.windows, student=student_dir.name)


class Worker:
    """A subject loaded in its own Python process (`pipeline.serving.bench_worker`)."""

    def __init__(self, subject: Subject, run_dir: Path, config: BenchConfig, threads: int) -> None:
        self.subject = subject
        self.last: dict[str, Any] = {}
        self.log: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.serving.bench_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.started = self.call(
            {
                "op": "start",
                "kind": subject.kind,
                "run": str(run_dir),
                "variant": subject.variant,
                "windows": list(subject.windows) if subject.windows else None,
                "device": subject.device,
                "threads": threads,
                "sample_docs": config.sample_docs,
            }
        )

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None  # both are pipes
        try:
            stdin.write(json.dumps(message) + "\n")
            stdin.flush()
            line = stdout.readline()
        except BrokenPipeError:
            line = ""
        reply = json.loads(line) if line else {"error": "the worker exited"}
        self.last = reply
        if "error" in reply:
            self.log.seek(0)
            tail = self.log.read()[-2000:]
            self.close()
            raise BenchError(f"bench worker for {self.subject.label}: {reply['error']}\n{tail}")
        return reply

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin:
            try:
                self.process.stdin.write('{"op": "exit"}\n')
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        self.process.wait(timeout=60)
        self.log.close()


def batch_sizes_timed(config: BenchConfig) -> list[int]:
    return sorted({1, *config.batch_sizes})


def warm_up(timed: list[Worker], batch_sizes: list[int]) -> dict[str, float]:
    """The same untimed pass for every subject (the reference too): each one's seconds for it, over every
    batch size, which `budget_documents` sizes the timed blocks from."""
    return {w.subject.label: sum(w.call({"op": "time", "batch_sizes": batch_sizes})["seconds"].values()) for w in timed}


BUDGET_MIN_DOCUMENTS = 5  # fewer, and one long note decides a block's time


def round_seconds(warm: dict[str, float], subjects: list[str], reference: str | None) -> float:
    """One round's seconds as the warm-up measured them: every subject's block, each after a reference block."""
    return sum(warm[label] + (warm[reference] if reference else 0.0) for label in subjects)


def budget_documents(
    warm: dict[str, float], subjects: list[str], reference: str | None, documents: int, config: BenchConfig
) -> int:
    """The sample's documents each timed block keeps, so that `config.rounds` rounds of the `subjects`
    (each after a reference block) fit `config.time_budget` seconds, estimated from the warm-up (a block's
    time grows with its documents): all of them without a budget or when they fit, never fewer than
    `BUDGET_MIN_DOCUMENTS`."""
    seconds = round_seconds(warm, subjects, reference)
    if not config.time_budget or seconds * config.rounds <= config.time_budget:
        return documents
    fitting = int(documents * config.time_budget / (seconds * config.rounds))
    return max(min(BUDGET_MIN_DOCUMENTS, documents), fitting)


def interleaved_rounds(
    workers: list[Worker], reference: Worker | None, config: BenchConfig, progress: bool
) -> tuple[dict[str, dict[int, list[float]]], dict[str, list[list[float]]], dict[str, dict[int, list[float]]]]:
    """Per subject label: {batch: [seconds per round]}, [per-round batch-1 latencies], and the reference's
    times from the block just before that subject in each round (after `warm_up`)."""
    from tqdm import tqdm

    batch_sizes = batch_sizes_timed(config)
    seconds: dict[str, dict[int, list[float]]] = {w.subject.label: {} for w in workers}
    latency: dict[str, list[list[float]]] = {w.subject.label: [] for w in workers}
    paired: dict[str, dict[int, list[float]]] = {w.subject.label: {} for w in workers}
    blocks = tqdm(total=config.rounds * len(workers), desc="bench rounds", unit="block", disable=not progress)
    for _ in range(config.rounds):
        for worker in workers:
            label = worker.subject.label
            if reference:
                for batch, value in reference.call({"op": "time", "batch_sizes": batch_sizes})["seconds"].items():
                    paired[label].setdefault(int(batch), []).append(value)
            timed = worker.call({"op": "time", "batch_sizes": batch_sizes})
            for batch, value in timed["seconds"].items():
                seconds[label].setdefault(int(batch), []).append(value)
            if timed["latency_ms"]:
                latency[label].append(timed["latency_ms"])
            blocks.update()
    blocks.close()
    return seconds, latency, paired
