"""The one owner of `outputs/`: every path under it, the typed records stored there, their schema versions.

    outputs/
      data/         documents.jsonl, split.json, tags.json, summary.json          (`data`)
      runs/<run>/   config.json, metrics.json, predictions/<part>.jsonl, model/   (`train`)
                    levers/<lever>/<part>.jsonl: variants a combined run scored   (`combine`)
                    analysis/analysis.json + analysis/figures/                    (`analyze`)
                    policy.json: the deployment policy, chosen on validation      (`analyze`)
                    bench.json + bench.png                                        (`bench`)
      comparison/   comparison.json, ablation.json + figures/                     (`compare`)
                    seeds.json: runs of one recipe that differ only by seed       (`compare`)
      stages/       <stage>.json: what `all` ran, its key and outputs             (`all`)
      leak/         hub_rows.jsonl, data/, runs/ (the row split of a rebuilt Hugging Face set)
                    and leak.json: what that split reports against ours               (`all`)
      report/       <version>/ and the link `latest`                              (`report`)
                    .quarto-build.json: the build a bare `quarto render` is making  (`quarto render`)

Every JSON record carries a `schema_version`; a reader that finds another version (or none) stops
with a `StaleOutputError` that names the file and the command that rebuilds it, instead of guessing
from missing keys. A file that is not valid JSON is named with its path (`CorruptOutputError`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from pipeline.core.errors import MissingInputError, OutputsLockedError, StaleOutputError
from pipeline.core.files import read_json, read_jsonl, write_json, write_jsonl
from pipeline.core.tags import spans_from_tags

log = logging.getLogger(__name__)

# kind -> (schema version this code writes and reads, the command that rebuilds such a file)
SCHEMAS: dict[str, tuple[int, str]] = {
    "summary": (1, "python -m pipeline data"),
    "run_config": (1, "python -m pipeline train"),
    "metrics": (1, "python -m pipeline train"),
    "analysis": (2, "python -m pipeline analyze --run {run}"),  # 2: the policy section, no readiness.high_risk
    "policy": (1, "python -m pipeline analyze --run {run}"),
    "bench": (2, "python -m pipeline bench --run {run}"),
    "comparison": (3, "python -m pipeline compare <runs>"),
    "ablation": (1, "python -m pipeline compare <runs>"),
    "seeds": (1, "python -m pipeline compare <runs>"),
    "stage": (1, "python -m pipeline all"),
    "leak": (1, "python -m pipeline all"),
    "quarto_build": (1, "quarto render (its pre-render step)"),
}
EVAL_PARTS = ("validation", "test")


class Scores(TypedDict):
    """Strict IOB2 entity-level scores (seqeval) of one part."""

    micro: dict[str, float]
    macro: dict[str, float]
    per_type: dict[str, dict[str, float]]


class MetricsRecord(TypedDict, total=False):
    """`runs/<run>/metrics.json`."""

    schema_version: int
    run: str
    model: str
    validation: Scores
    test: Scores
    epochs: list[dict[str, Any]]
    train_seconds: float
    peak_memory_mb: float
    peak_memory_kind: str
    parameters: int
    long_docs: str
    selected_lr: float  # a transformer run: the learning rates tried on validation
    select_on: str  # the validation score (micro, macro, mean) that kept its epoch and learning rate
    lr_search: list[dict[str, Any]]
    train_seconds_all_trials: float
    optimisation_steps: int
    warmup: str
    max_length: int  # a transformer run: its window length, capped by the position embeddings
    grid: list[dict[str, Any]]  # a CRF run: its c1/c2 grid (pipeline.training.train_crf)
    selected: dict[str, float]
    grid_seconds: float
    grid_fit_seconds_total: float  # the points' fit_seconds summed (grid_seconds is the wall time)
    workers: int  # the processes the grid ran in
    weight_search: list[dict[str, Any]]  # a combined run (pipeline.training.combine)
    selected_weight: float
    selected_tau: float  # its prior correction (pipeline.modeling.mixture.prior_correct)
    objective: str
    prior_levers: dict[str, dict[str, float]]
    decoder: str
    parts: dict[str, str]
    combine_seconds: float
    transformer_seed: int | None  # the seed of a transformer part trained by `train --seeds`


class AnalysisRecord(TypedDict, total=False):
    """`runs/<run>/analysis/analysis.json` (sections documented in `pipeline.evaluation.analyze`)."""

    schema_version: int
    run: str
    model: str
    part: str
    config: dict[str, Any]
    documents: int
    scores: dict[str, Any]
    tiers: dict[str, Any]
    frequency_scatter: list[dict[str, Any]]
    errors: dict[str, Any]
    examples: list[dict[str, Any]]
    patterns: dict[str, Any]
    confidence: dict[str, Any]
    readiness: dict[str, Any]
    policy: dict[str, Any]  # the deployment policy (policy.json) applied to the analysed part
    figures: dict[str, str]


class PolicyRecord(TypedDict, total=False):
    """`runs/<run>/policy.json`: which predicted spans `predict` codes automatically (fields documented in
    `pipeline.evaluation.policy`)."""

    schema_version: int
    run: str
    model: str
    chosen_on: str
    span_confidence: str
    settings: dict[str, Any]
    types: dict[str, dict[str, Any]]
    pooled: dict[str, Any]
    always_review: list[str]
    validation: dict[str, Any]


class BenchRecord(TypedDict, total=False):
    """`runs/<run>/bench.json` (rows documented in `pipeline.serving.bench`)."""

    schema_version: int
    run: str
    device: str
    config: dict[str, Any]
    lengths: dict[str, Any]
    variants: list[dict[str, Any]]
    created: str
    threads: int
    versions: dict[str, str]
    sample: dict[str, Any]
    training_peak_memory_mb: float | None
    reference: dict[str, Any] | None
    estimate: list[dict[str, Any]]
    summary: dict[str, Any]
    kind: str
    cpu: dict[str, Any]
    peak: dict[str, float | None]
    gpu_peak: dict[str, float | None] | None
    skipped: list[dict[str, str]]
    windows: list[dict[str, Any]]
    transformer_part: dict[str, Any] | None
    timing: dict[str, Any]
    machine: dict[str, Any]
    students: list[dict[str, Any]]


class LeakRecord(TypedDict, total=False):
    """`leak/leak.json` (fields documented in `pipeline.evaluation.leak`)."""

    schema_version: int
    model: str
    rows: dict[str, Any]
    document: dict[str, Any]
    inflation: dict[str, Any]
    resamples: int
    note: str


class ComparisonRecord(TypedDict, total=False):
    """`comparison/comparison.json`."""

    schema_version: int
    runs: list[str]
    part: str
    selection_part: str
    resamples: int
    seed: int
    models: list[dict[str, Any]]
    selection: dict[str, Any]
    decision: dict[str, Any]
    best: dict[str, Any]
    pairwise: list[dict[str, Any]]
    pairwise_selection: list[dict[str, Any]]
    unpaired: list[dict[str, Any]]
    figures: dict[str, str]
    seed_summary: str | None


class SeedSummaryRecord(TypedDict, total=False):
    """`comparison/seeds.json` (fields documented in `pipeline.evaluation.compare.seed_summary`)."""

    schema_version: int
    part: str
    selection_part: str
    groups: list[dict[str, Any]]


class AblationRecord(TypedDict, total=False):
    """`comparison/ablation.json` (fields documented in `pipeline.evaluation.ablation`)."""

    schema_version: int
    part: str
    selection_part: str
    resamples: int
    seed: int
    rows: list[dict[str, Any]]
    versus: list[dict[str, Any]]


class RunFolder:
    """`outputs/runs/<run>/`: what training writes and every later stage reads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.config, self.metrics = self.path / "config.json", self.path / "metrics.json"  # train
        self.model = self.path / "model"
        self.model_tags, self.crf_model, self.onnx = (self.model / name for name in ("tags.json", "crf.pkl", "onnx"))
        self.combined = self.model / "combined.json"  # a combined run: its parts and weight
        self.analysis_dir = self.path / "analysis"  # analyze
        self.analysis = self.analysis_dir / "analysis.json"
        self.policy = self.path / "policy.json"  # analyze: the deployment policy predict applies
        self.bench, self.bench_figure = self.path / "bench.json", self.path / "bench.png"  # bench

    def predictions(self, part: str) -> Path:
        return self.path / "predictions" / f"{part}.jsonl"

    def lever_predictions(self, lever: str, part: str) -> Path:
        """Predictions of a variant a combined run also scored (e.g. its transformer alone, argmax), for
        the ablation of `compare`."""
        return self.path / "levers" / lever / f"{part}.jsonl"

    def levers(self) -> list[str]:
        return sorted(p.name for p in (self.path / "levers").glob("*") if p.is_dir())

    def trial(self, lr: float) -> Path:
        return self.path / "trials" / f"lr-{lr:g}"


# what a saved transformers model folder holds besides config.json: weights (one file or a sharded index)
# and its tokenizer's files (a fast tokenizer, a WordPiece or BPE vocabulary, or a sentencepiece model)
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def missing_model_files(folder: str | Path, tag_map: bool = False, weights: bool = True) -> list[str]:
    """What a saved model folder lacks, each named with what it is: the config, the weights (unless a cached
    graph stands in for them), the tokenizer's files and (`tag_map`: a run's model/) tags.json. Checked before
    loading: transformers would stop with a traceback about one file at a time, or about sentencepiece when
    the tokenizer files are missing."""
    folder = Path(folder)
    wanted = [
        ("config.json (the model's config)", ("config.json",)),
        *[(f"weights ({' or '.join(WEIGHT_FILES[::2])})", WEIGHT_FILES)] * weights,
        ("tokenizer files (tokenizer.json or vocab.txt)", TOKENIZER_FILES),
        *[("tags.json (the tag map)", ("tags.json",))] * tag_map,
    ]
    return [what for what, names in wanted if not any((folder / name).is_file() for name in names)]


class Outputs:
    """One `outputs/` folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.data, self.runs, self.stages, self.report = (
            self.root / name for name in ("data", "runs", "stages", "report")
        )
        self.documents = self.data / "documents.jsonl"
        self.split, self.tags, self.summary = (self.data / f"{name}.json" for name in ("split", "tags", "summary"))
        self.comparison_dir = self.root / "comparison"
        self.comparison = self.comparison_dir / "comparison.json"
        self.ablation = self.comparison_dir / "ablation.json"
        self.seeds = self.comparison_dir / "seeds.json"
        self.leak_dir = self.root / "leak"
        self.hub_rows, self.leak = self.leak_dir / "hub_rows.jsonl", self.leak_dir / "leak.json"
        self.quarto_build = self.report / ".quarto-build.json"  # the pre-render step's version and pages
        self.lock = self.root / ".lock"

    def run(self, name: str) -> RunFolder:
        return RunFolder(self.runs / name)

    def stage(self, name: str) -> Path:
        return self.stages / f"{name}.json"


def run_name(label: str, variant: str | None = None, now: datetime | None = None) -> str:
    """A run's folder name: `<label>-<YYYYmmdd-HHMMSS>`, or `<label>-<variant>-<...>` (e.g. `minilm-truncate-...`);
    `label` is the model's short name (`pipeline.modeling.registry.model_label`)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return "-".join(part for part in (label, variant, stamp) if part)


def run_outputs(run_dir: str | Path) -> Outputs:
    """The outputs folder a run sits in (`<outputs>/runs/<run>`), whose prepared data it was trained on."""
    return Outputs(Path(run_dir).resolve().parents[1])


@contextlib.contextmanager
def locked_outputs(root: str | Path, command: str) -> Iterator[None]:
    """Hold `<root>/.lock` while `command` writes under `root`; a second writer is refused with the
    holder's pid and start time. An exclusive `flock` is released by the kernel when its process
    dies, so the lock of a killed command (a stale lock) is simply taken over."""
    lock = Outputs(root).lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+", encoding="utf-8") as handle:  # closing releases the flock
        handle.seek(0)
        holder = handle.read().strip()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputsLockedError(
                f"{root} is in use by {holder or 'another process'} (lock {lock}); wait for it to finish "
                "or stop it, then run again"
            ) from None
        if holder:
            log.info("took over the lock of %s (no longer running)", holder)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} (`{command}`) since {datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()  # released, even by an error: an empty file names no holder


def write_record(path: str | Path, kind: str, record: dict[str, Any]) -> Path:
    """Write a record of `kind` with its schema version first (replacing the one it was read with)."""
    return write_json(
        path,
        {
            "schema_version": SCHEMAS[kind][0],
            **{key: value for key, value in record.items() if key != "schema_version"},
        },
    )


def read_record(path: str | Path, kind: str, run: str = "<run>") -> Any:
    """A record of `kind`; missing, unparsable or of another schema version: an error naming the file."""
    version, command = SCHEMAS[kind]
    if not Path(path).exists():
        raise MissingInputError(f"{path} not found: run `{command.format(run=run)}` first")
    record = read_json(path)
    found = record.get("schema_version") if isinstance(record, dict) else None
    if found != version:
        raise StaleOutputError(
            f"{path} has schema version {found} but this pipeline reads version {version}: "
            f"rebuild it with `{command.format(run=run)}`"
        )
    return record


def read_optional_record(path: str | Path, kind: str, run: str = "<run>") -> Any:
    """Like `read_record`, but None when the file does not exist (an optional stage not run)."""
    return read_record(path, kind, run) if Path(path).exists() else None


def write_tags(path: str | Path, tag2id: dict[str, int]) -> Path:
    """`tags.json` of the data folder and of every saved model: both directions of the tag map."""
    return write_json(path, {"tag2id": tag2id, "id2tag": {str(i): t for t, i in tag2id.items()}})


def read_tags(path: str | Path) -> tuple[dict[str, int], dict[int, str]]:
    tags = read_json(path)
    return tags["tag2id"], {int(k): v for k, v in tags["id2tag"].items()}


def prediction_record(
    doc_id: str, words: Sequence[str], gold: Sequence[str], pred: Sequence[str], confidence: Sequence[float]
) -> dict[str, Any]:
    """One line of predictions/<part>.jsonl; span confidence is the minimum over its words."""
    confidence = [round(float(c), 6) for c in confidence]
    spans = [
        {
            "start_word": span.start,
            "end_word": span.end,
            "type": span.type,
            "text": " ".join(words[span.start : span.end]),
            "confidence": min(confidence[span.start : span.end]),
        }
        for span in spans_from_tags(pred)
    ]
    return {
        "id": doc_id,
        "words": list(words),
        "gold": list(gold),
        "pred": list(pred),
        "confidence": confidence,
        "spans": spans,
    }


def write_predictions(run_dir: str | Path, part: str, records: Iterable[dict[str, Any]]) -> Path:
    return write_jsonl(RunFolder(run_dir).predictions(part), records)


def write_lever_predictions(run_dir: str | Path, lever: str, part: str, records: Iterable[dict[str, Any]]) -> Path:
    return write_jsonl(RunFolder(run_dir).lever_predictions(lever, part), records)


def read_lever_predictions(run_dir: str | Path, lever: str, part: str) -> list[dict[str, Any]]:
    path = RunFolder(run_dir).lever_predictions(lever, part)
    if not path.exists():
        raise MissingInputError(f"{path} not found: rebuild the combined run (python -m pipeline combine)")
    return [row for _, row in read_jsonl(path)]


def read_predictions(run_dir: str | Path, part: str) -> list[dict[str, Any]]:
    path = RunFolder(run_dir).predictions(part)
    if not path.exists():
        raise MissingInputError(f"{path} not found: train the run first (python -m pipeline train)")
    return [row for _, row in read_jsonl(path)]


def has_predictions(run_dir: str | Path, part: str) -> bool:
    return RunFolder(run_dir).predictions(part).exists()


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """A run's config.json; a run trained when the window overlap was called `stride` reads as `overlap`."""
    folder = RunFolder(run_dir)
    config = read_record(folder.config, "run_config", folder.name)
    train = config.get("train") if isinstance(config, dict) else None
    if isinstance(train, dict) and "stride" in train:
        train.setdefault("overlap", train.pop("stride"))
    return config


def read_metrics(run_dir: str | Path) -> MetricsRecord:
    folder = RunFolder(run_dir)
    return read_record(folder.metrics, "metrics", folder.name)


def read_combined_parts(run_dir: str | Path) -> dict[str, Any] | None:
    """A combined run's `model/combined.json` with its parts' folders found (None for other runs). A part
    is looked up first beside the combined run (outputs moved as a whole), then where it was recorded."""
    folder = RunFolder(run_dir)
    if not folder.combined.exists():
        return None
    parts = read_json(folder.combined)
    for part in ("transformer", "crf"):
        beside = folder.path.parent / parts[f"{part}_run"]
        recorded = Path(parts[f"{part}_dir"])
        if not beside.is_dir() and not recorded.is_dir():
            raise MissingInputError(
                f"{folder.combined}: its {part} part {parts[f'{part}_run']} is neither beside it nor at {recorded}"
            )
        parts[f"{part}_dir"] = str(beside if beside.is_dir() else recorded)
    return parts


def finished_runs(output_dir: str | Path) -> list[Path]:
    """Every completed run (with metrics.json) under `<output_dir>/runs`, sorted by name."""
    runs = Outputs(output_dir).runs
    return sorted(p for p in runs.iterdir() if RunFolder(p).metrics.exists()) if runs.is_dir() else []


def latest_run(output_dir: str | Path, prefix: str) -> Path | None:
    """The newest completed run named `<prefix>-<YYYYmmdd-HHMMSS>`: the prefix is every name part before
    the date-time, so `minilm` never picks `minilm-truncate-...` or `minilm-seed43-...`."""
    pattern = re.compile(re.escape(prefix) + r"-\d{8}-\d{6}")
    candidates = [p for p in finished_runs(output_dir) if pattern.fullmatch(p.name)]
    return candidates[-1] if candidates else None
