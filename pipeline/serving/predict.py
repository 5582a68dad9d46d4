"""`predict`: spans with character offsets for raw notes, resumable, streaming, and split across processes.

Output, one JSON line per note, in input order:
    {"id", "words": n_words, "spans": [{"start", "end" (character offsets, end exclusive), "type",
     "text", "confidence" (minimum word confidence; the mean for a policy chosen on means), "decision" ("auto" |
     "review"), "reason"}]}
or, for a note that could not be read, {"id", "error"}; the batch always continues.

Decisions: the run's deployment policy (`<run>/policy.json`, chosen on validation by `analyze`; the rule is
`pipeline.evaluation.policy.span_decision`): a span is coded automatically at or above its type's threshold,
and reviewed below it or when its type is always reviewed; the reason says which ("below its type's threshold
0.93", "always-review type"). `--threshold T` applies one threshold to every type instead, and each reason says
the policy was not applied; a run without policy.json sends every span to review. `--review-brat DIR` also
writes the notes with a span to review as brat standoff (`pipeline.serving.review_queue`).

Resuming: the output file is appended to and flushed line by line; on restart a half-written last
line (the process was killed mid-write) is cut off, error records are removed so that their notes
are tried again (fixed input is predicted; the retried records come after the others), and every
other id already present is skipped, so each note ends up exactly once. An id that repeats within
one input is made unique: its k-th occurrence is written as `<id>#k` with `"input_id": <id>`, and
the console says so. The output file is created only when the first record is written. Long notes (more than `segment_words` words) are predicted in segments
with `segment_context` words of context either side, so memory stays bounded whatever the length.

Scale-out: under `torchrun --nproc_per_node N` or `accelerate launch` (Accelerate's PartialState
reads the launcher's environment), process r takes the notes whose input index is r modulo N and
writes its own shard `<output>.shard-r-of-N`; after a barrier process 0 appends the shards to the
output in input order, skipping ids already there, and deletes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from pipeline.config import PredictConfig
from pipeline.core.documents import DataError
from pipeline.core.errors import ConfigError
from pipeline.core.files import atomic_write_text
from pipeline.core.layout import RunFolder, read_optional_record
from pipeline.core.tags import entity_types_of, spans_from_tags
from pipeline.evaluation.confidence import span_confidence
from pipeline.evaluation.policy import global_threshold_policy, review_all_policy, span_decision
from pipeline.modeling.backends import TransformerTagger, encoder_run
from pipeline.modeling.mixture import CombinedTagger
from pipeline.modeling.tagger import Tagger, load_tagger, tagger_kind
from pipeline.serving.notes import Note, note_words
from pipeline.serving.review_queue import queue_note, write_annotation_conf

log = logging.getLogger(__name__)


@dataclass
class PredictSummary:
    written: int = 0
    skipped: int = 0
    errors: int = 0
    retried: int = 0  # earlier error records removed so that their notes were tried again
    queued: int = 0  # notes written to the brat review queue (--review-brat)
    renamed: list[str] = field(default_factory=list)  # ids made unique (`<id>#k`)
    outputs: list[str] = field(default_factory=list)

    @property
    def all_failed(self) -> bool:
        """Every note written this time is an error record (the CLI exits with ALL_FAILED_EXIT)."""
        return self.written > 0 and self.errors == self.written


ALL_FAILED_EXIT = 3  # `predict` exit code when notes were read but not one could be predicted


def variant_of(config: PredictConfig) -> str:
    if config.onnx:
        return "onnx-int8" if config.int8 else "onnx"
    return "int8" if config.int8 else "fp32"


DEFAULT_BATCH_SIZE = 8  # windows per forward pass without bench's choice (fastest fp32 batch on 2 CPU cores)


class Inference(NamedTuple):
    """What predict runs with, and whether it is bench's choice."""

    variant: str
    windows: tuple[int, int] | None  # (max_length, overlap); None: the run's own windows
    batch_size: int
    from_bench: bool


def chosen_inference(run_dir: str | Path, config: PredictConfig) -> Inference:
    """What predict runs with: --variant or --int8/--onnx when given, else what `bench` chose on validation
    for the run's transformer (bench.json summary.chosen of the run, or of a combined run's transformer
    part: its variant, windows and the batch size it was fastest at), else fp32, said in a log line. The
    batch size is --batch-size when given, else bench's with bench's variant, else `DEFAULT_BATCH_SIZE`. A CRF
    run has one form ("crf"), which a variant asked for cannot change."""
    own = config.batch_size or DEFAULT_BATCH_SIZE
    if tagger_kind(run_dir) == "crf":
        if config.variant or config.int8 or config.onnx:
            raise ConfigError(f"{Path(run_dir).name} is a CRF run: --variant, --int8 and --onnx are a transformer's")
        return Inference("crf", None, own, False)
    if config.variant or config.int8 or config.onnx:
        return Inference(config.variant or variant_of(config), None, own, False)
    transformer = encoder_run(run_dir)
    bench = read_optional_record(RunFolder(transformer).bench, "bench", transformer.name) or {}
    chosen = (bench.get("summary") or {}).get("chosen")
    if bench.get("kind", "transformer") != "transformer" or not chosen:
        log.info(
            "%s: no variant chosen by bench for %s (no bench.json with a transformer's choice): fp32 with its own "
            "windows; `python -m pipeline bench --run %s` chooses a faster one",
            Path(run_dir).name,
            transformer.name,
            transformer.name,
        )
        return Inference("fp32", None, own, False)
    windows = (int(chosen["max_length"]), int(chosen["overlap"])) if chosen.get("max_length") else None
    return Inference(str(chosen["variant"]), windows, config.batch_size or int(chosen["batch_size"]), True)


def load_predictor(
    run_dir: str | Path, variant: str, windows: tuple[int, int] | None, device: str | None = None
) -> Tagger:
    """Any run as its kind's tagger (`pipeline.modeling.tagger.load_tagger`): a transformer (a combined run's
    transformer part) in `variant`, with `windows` (max_length, overlap) when given: what predict and bench
    both run."""
    return load_tagger(run_dir, variant, device, windows)


def describe(run_dir: str | Path, model: Tagger, chosen: Inference, config: PredictConfig) -> str:
    """One line that says what predict runs with and where each setting came from."""
    if not isinstance(model, (TransformerTagger, CombinedTagger)):
        return f"predict: {Path(run_dir).name} as a CRF (crfsuite over whole notes: no variant, windows or batches)"
    transformer = encoder_run(run_dir)
    source = "" if transformer == Path(run_dir) else f" for its transformer {transformer.name}"
    variant = f"bench's choice{source}, bench.json summary.chosen" if chosen.from_bench else "given or default"
    batch = "--batch-size" if config.batch_size else ("bench's choice" if chosen.from_bench else "default")
    return (
        f"predict: {Path(run_dir).name} as {chosen.variant} ({variant}), windows --max-length {model.max_length} "
        f"--overlap {model.overlap}, "
        f"{chosen.batch_size} windows per forward pass ({batch})"
    )


def decision_policy(run_dir: str | Path, threshold: float | None) -> dict[str, Any]:
    """What decides auto against review, logged in one line: `--threshold` when given (the policy is not
    applied), else the run's policy.json, else every span to review (a warning)."""
    name = Path(run_dir).name
    if threshold is not None:
        log.info(
            "predict: --threshold %g for every type; the run's deployment policy (policy.json) is not applied",
            threshold,
        )
        return global_threshold_policy(threshold)
    policy = read_optional_record(RunFolder(run_dir).policy, "policy", name)
    if policy is None:
        log.warning(
            "predict: %s has no deployment policy (policy.json): every span goes to review; run `python -m pipeline "
            "analyze --run %s` to choose one on validation, or give --threshold",
            name,
            name,
        )
        return review_all_policy()
    automatic = sum(entry["threshold"] is not None for entry in policy["types"].values())
    log.info(
        "predict: the deployment policy of %s (policy.json, chosen on %s): %d of %d types auto-coded at their "
        "thresholds, %d always reviewed",
        name,
        policy["chosen_on"],
        automatic,
        len(policy["types"]),
        len(policy["always_review"]),
    )
    return policy


def note_record(
    note: Note,
    offsets: list[tuple[int, int]],
    tags: list[str],
    confidence: list[float],
    policy: Mapping[str, Any],
) -> dict[str, Any]:
    text = note.text
    if text is None:  # records() turns a note without text into an error record before tagging
        raise ValueError(f"note {note.id!r} has no text to tag")
    spans = []
    for span in spans_from_tags(tags):
        start, end = offsets[span.start][0], offsets[span.end - 1][1]
        score = span_confidence(confidence, span, policy.get("span_confidence", "min"))  # as the policy was chosen on
        decision, reason = span_decision(policy, span.type, score)  # decided before rounding
        spans.append(
            {
                "start": start,
                "end": end,
                "type": span.type,
                "text": text[start:end],
                "confidence": round(score, 4),
                "decision": decision,
                "reason": reason,
            }
        )
    return {"id": note.id, "words": len(offsets), "spans": spans}


def segments(n_words: int, size: int, context: int) -> list[tuple[int, int, int, int]]:
    """(context start, keep start, keep end, context end) covering [0, n_words) once."""
    return [
        (max(0, start - context), start, min(n_words, start + size), min(n_words, start + size + context))
        for start in range(0, n_words, size)
    ]


class Predictor:
    """Notes in, records out: short notes batched together, long ones segment by segment."""

    def __init__(self, model: Tagger, config: PredictConfig, policy: Mapping[str, Any]) -> None:
        self.model, self.config, self.policy = model, config, policy

    def long_note(self, note: Note, words: list[str], offsets: list[tuple[int, int]]) -> dict[str, Any]:
        tags: list[str] = []
        confidence: list[float] = []
        for a, b, c, d in segments(len(words), self.config.segment_words, self.config.segment_context):
            ((part_tags, part_confidence),) = self.model.predict([words[a:d]], self.config.batch_size)
            tags.extend(part_tags[b - a : c - a])  # one segment at a time: window scores stay small
            confidence.extend(part_confidence[b - a : c - a])
        return note_record(note, offsets, tags, confidence, self.policy)

    def short_notes(self, batch: list[tuple[Note, list[str], list[tuple[int, int]]]]) -> list[dict[str, Any]]:
        results = self.model.predict([words for _, words, _ in batch], self.config.batch_size)
        return [
            note_record(note, offsets, tags, confidence, self.policy)
            for (note, _, offsets), (tags, confidence) in zip(batch, results)
        ]

    def records(self, notes: Iterable[Note], batch_docs: int) -> Iterator[dict[str, Any]]:
        """One record per note, in input order; a note that fails becomes an error record."""
        pending: list[tuple[Note, list[str], list[tuple[int, int]]]] = []

        def flush() -> Iterator[dict[str, Any]]:
            if pending:
                yield from self.short_notes(pending)
                pending.clear()

        for note in notes:
            if note.error is not None or note.text is None:
                yield from flush()
                yield {"id": note.id, "error": note.error or "no text"}
                continue
            words, offsets = note_words(note.text)
            if len(words) > self.config.segment_words:
                yield from flush()
                yield self.long_note(note, words, offsets)
                continue
            pending.append((note, words, offsets))
            if len(pending) >= batch_docs:
                yield from flush()
        yield from flush()


def completed_ids(path: Path, retry_errors: bool = False) -> tuple[set[str], int]:
    """(ids already in a JSON-lines output, error records removed). A half-written last line (killed
    process) is cut off first; with `retry_errors` the error records are removed too (atomically)."""
    if not path.exists():
        return set(), 0
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(len(complete))
    ids, kept, removed = set(), [], 0
    for number, line in enumerate(complete.decode("utf-8", errors="replace").splitlines(), start=1):
        if line.strip():
            try:
                record = json.loads(line)
                note_id = record["id"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise DataError(
                    f"{path}:{number}", f"not a predict output line ({exc}); choose another --output"
                ) from exc
            if retry_errors and "error" in record:
                removed += 1
                continue
            ids.add(note_id)
            kept.append(line + "\n")
    if removed:
        atomic_write_text(path, "".join(kept))
    return ids, removed


def write_line(handle: IO[str], record: dict[str, Any]) -> None:
    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    handle.flush()


def shard_path(output: Path, rank: int, world: int) -> Path:
    return output.with_name(f"{output.name}.shard-{rank}-of-{world}")


def merge_shards(output: Path, world: int) -> int:
    """Append every shard's records to `output` in input order, skipping ids already there; returns count."""
    done, _ = completed_ids(output)
    records = []
    for rank in range(world):
        shard = shard_path(output, rank, world)
        completed_ids(shard)  # cuts a half-written line
        if shard.exists():
            records += [json.loads(line) for line in shard.read_text(encoding="utf-8").splitlines() if line.strip()]
    added = 0
    with open(output, "a", encoding="utf-8") as handle:
        for record in sorted(records, key=lambda r: r["index"]):
            record.pop("index")
            if record["id"] not in done:
                done.add(record["id"])
                write_line(handle, record)
                added += 1
        os.fsync(handle.fileno())
    for rank in range(world):
        shard_path(output, rank, world).unlink(missing_ok=True)
    return added


def predict_notes(
    model: Tagger,
    notes: Iterable[Note],
    output: str | Path,
    config: PredictConfig,
    policy: Mapping[str, Any],
    progress: bool = True,
    stdout: IO[str] | None = None,
) -> PredictSummary:
    """Write one record per note to `output` (`-`: stdout, flushed per line), resuming where it stopped, each span
    decided by `policy` (`decision_policy`); `config.batch_size` as `chosen_inference` resolved it. With
    `config.review_brat`, a note with a span to review is queued there before its line is written, so a note
    found done on a restart is in the queue already."""
    from tqdm import tqdm

    if config.batch_size < 1:
        raise ConfigError(
            f"predict needs a batch size of at least 1 (chosen_inference resolves 0), got {config.batch_size}"
        )

    summary = PredictSummary()
    streaming = str(output) == "-"
    world, rank, state = 1, 0, None
    if not streaming and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        state = PartialState(cpu=model.device == "cpu")  # without cpu=True Accelerate ignores a CPU launch
        world, rank = state.num_processes, state.process_index
    target = Path(output) if not streaming else None
    done, summary.retried = completed_ids(target, retry_errors=True) if target else (set(), 0)
    shard = shard_path(target, rank, world) if target and world > 1 else target
    if shard is not None and shard != target:
        shard_done, shard_retried = completed_ids(shard, retry_errors=True)
        done |= shard_done
        summary.retried += shard_retried

    def wanted() -> Iterator[Note]:
        seen: dict[str, int] = {}  # occurrences of each input id, counted before any skipping
        for index, note in enumerate(notes):
            seen[note.id] = seen.get(note.id, 0) + 1
            if seen[note.id] > 1:
                unique = f"{note.id}#{seen[note.id]}"
                input_ids[unique] = note.id
                summary.renamed.append(unique)
                note = dataclasses.replace(note, id=unique)
            if index % world != rank:
                continue
            if note.id in done:
                summary.skipped += 1
                continue
            done.add(note.id)
            indices[note.id] = index
            if queue is not None and note.text is not None:
                texts[note.id] = note.text
            yield note

    input_ids: dict[str, str] = {}
    queue = Path(config.review_brat) if config.review_brat else None
    texts: dict[str, str] = {}  # notes in flight, for the review queue
    if queue is not None:
        write_annotation_conf(queue, entity_types_of({tag: i for i, tag in model.id2tag.items()}))

    indices: dict[str, int] = {}
    bar = tqdm(
        desc=f"predict (process {rank})" if world > 1 else "predict", unit="note", disable=not progress, file=sys.stderr
    )
    with contextlib.ExitStack() as opened:  # closes the shard file; stdout stays open
        handle = (stdout or sys.stdout) if shard is None else None
        try:
            batch_docs = 1 if streaming else config.batch_docs
            for record in Predictor(model, config, policy).records(wanted(), batch_docs):
                text = texts.pop(record["id"], None)
                if queue is not None and text is not None and "error" not in record:
                    summary.queued += queue_note(queue, text, record)
                if handle is None:  # opened on the first record: a failed start leaves no empty file
                    handle = opened.enter_context(open(shard, "a", encoding="utf-8"))  # type: ignore[arg-type]
                summary.errors += "error" in record
                summary.written += 1
                if record["id"] in input_ids:
                    record = {"id": record["id"], "input_id": input_ids[record["id"]], **record}
                write_line(handle, {**record, "index": indices[record["id"]]} if world > 1 else record)
                bar.update()
        finally:
            bar.close()
    if state is not None:
        if target is None:  # state is set up only when writing to a file
            raise ConfigError("multi-process prediction needs an output file, not stdout")
        state.wait_for_everyone()
        if state.is_main_process:
            merge_shards(target, world)
        state.wait_for_everyone()
    summary.outputs = [str(output)]
    return summary
