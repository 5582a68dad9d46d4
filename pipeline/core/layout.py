"""The one owner of `outputs/`: every path under it, the typed records stored there, their schema versions.

    outputs/
      data/         documents.jsonl, split.json, tags.json, summary.json          (`data`)
      runs/<run>/   config.json, metrics.json, predictions/<part>.jsonl, model/   (`train`)
                    analysis/analysis.json + analysis/figures/                    (`analyze`)
                    bench.json + bench.png                                        (`bench`)
      comparison/   comparison.json + figures/                                    (`compare`)
      stages/       <stage>.json: what `all` ran, its key and outputs             (`all`)
      leak/         hub_rows.jsonl, data/, runs/ (the row split of a rebuilt Hugging Face set)
                    and leak.json: what that split reports against ours               (`all`)
      report/       <version>/ and the link `latest`                              (`report`)

Every JSON record carries a `schema_version`; a reader that finds another version (or none) stops
with a `StaleOutputError` that names the file and the command that rebuilds it, instead of guessing
from missing keys. A file that is not valid JSON is named with its path (`CorruptOutputError`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypedDict

from pipeline.core.errors import CorruptOutputError, MissingInputError, StaleOutputError
from pipeline.core.files import read_jsonl, write_json, write_jsonl
from pipeline.core.tags import spans_from_tags

# kind -> (schema version this code writes and reads, the command that rebuilds such a file)
SCHEMAS: dict[str, tuple[int, str]] = {
    "summary": (1, "python -m pipeline data"),
    "run_config": (1, "python -m pipeline train"),
    "metrics": (1, "python -m pipeline train"),
    "analysis": (1, "python -m pipeline analyze --run {run}"),
    "bench": (2, "python -m pipeline bench --run {run}"),
    "comparison": (1, "python -m pipeline compare <runs>"),
    "stage": (1, "python -m pipeline all"),
    "leak": (1, "python -m pipeline all"),
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
    figures: dict[str, str]


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
    windows: list[dict[str, Any]]


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
    best: dict[str, Any]
    pairwise: list[dict[str, Any]]
    pairwise_selection: list[dict[str, Any]]
    unpaired: list[dict[str, Any]]
    figures: dict[str, str]


class RunFolder:
    """`outputs/runs/<run>/`: what training writes and every later stage reads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.config, self.metrics = self.path / "config.json", self.path / "metrics.json"  # train
        self.model = self.path / "model"
        self.model_tags, self.crf_model, self.onnx = (self.model / name for name in ("tags.json", "crf.pkl", "onnx"))
        self.analysis_dir = self.path / "analysis"  # analyze
        self.analysis = self.analysis_dir / "analysis.json"
        self.bench, self.bench_figure = self.path / "bench.json", self.path / "bench.png"  # bench

    def predictions(self, part: str) -> Path:
        return self.path / "predictions" / f"{part}.jsonl"

    def trial(self, lr: float) -> Path:
        return self.path / "trials" / f"lr-{lr:g}"


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
        self.leak_dir = self.root / "leak"
        self.hub_rows, self.leak = self.leak_dir / "hub_rows.jsonl", self.leak_dir / "leak.json"

    def run(self, name: str) -> RunFolder:
        return RunFolder(self.runs / name)

    def stage(self, name: str) -> Path:
        return self.stages / f"{name}.json"


def read_json_file(path: str | Path) -> Any:
    """Parse a JSON file; a file that is not JSON raises `CorruptOutputError` naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise CorruptOutputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "rebuild it or restore it from a backup"
        ) from exc


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
    record = read_json_file(path)
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
    tags = read_json_file(path)
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


def read_predictions(run_dir: str | Path, part: str) -> list[dict[str, Any]]:
    path = RunFolder(run_dir).predictions(part)
    if not path.exists():
        raise MissingInputError(f"{path} not found: train the run first (python -m pipeline train)")
    return [row for _, row in read_jsonl(path)]


def has_predictions(run_dir: str | Path, part: str) -> bool:
    return RunFolder(run_dir).predictions(part).exists()


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    folder = RunFolder(run_dir)
    return read_record(folder.config, "run_config", folder.name)


def read_metrics(run_dir: str | Path) -> MetricsRecord:
    folder = RunFolder(run_dir)
    return read_record(folder.metrics, "metrics", folder.name)


def latest_run(output_dir: str | Path, prefix: str) -> Path | None:
    """The newest completed run (with metrics.json) whose name starts with `prefix-`."""
    pattern = re.compile(re.escape(prefix) + r"-\d{8}-\d{6}")
    candidates = sorted(
        p
        for p in Outputs(output_dir).runs.glob(f"{prefix}-*")
        if pattern.fullmatch(p.name) and RunFolder(p).metrics.exists()
    )
    return candidates[-1] if candidates else None
