"""The run directory `outputs/runs/<run-name>/` that training writes and every later stage reads.

    config.json                  resolved config, split hash, package versions, git commit, types, tags
    metrics.json                 strict IOB2 seqeval on full documents (validation, test), epochs, timings
    predictions/<part>.jsonl     one line per document: words, gold, pred, confidence, spans
    model/                       weights + tokenizer + tags.json (the CRF: crf.pkl + tags.json)

Every file is written atomically (pipeline.core.files), so an interrupted run never leaves half a JSON.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import resource
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

from pipeline import __version__
from pipeline.core.errors import MissingInputError
from pipeline.core.files import read_json, read_jsonl, sha256_of, write_json, write_jsonl
from pipeline.core.tags import spans_from_tags

PACKAGES = ("torch", "transformers", "accelerate", "datasets", "seqeval", "nervaluate", "sklearn-crfsuite",
            "numpy", "wandb", "iterative-stratification")


def runs_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "runs"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "pipeline": __version__}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                                cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=Path(__file__).resolve().parent).stdout.strip()
        return result.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def peak_cpu_memory_mb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def run_config(run: str, model: str, settings: dict[str, Any], data_summary: dict[str, Any], split: dict[str, Any],
               tag2id: dict[str, int], **extra: Any) -> dict[str, Any]:
    """What config.json records: enough to reproduce the run and to analyse it without outputs/data."""
    return {
        "run": run,
        "model": model,
        "created": datetime.now().isoformat(timespec="seconds"),
        "train": settings,
        "data": data_summary.get("config", {}),
        "data_source": data_summary.get("source"),
        "split_hash": sha256_of({part: split[part] for part in ("train", "validation", "test")}),
        "split_strategy": split.get("strategy"),
        "types": data_summary.get("types", {}),
        "tag2id": tag2id,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "command": " ".join(sys.argv),
        **extra,
    }


def prediction_record(doc_id: str, words: Sequence[str], gold: Sequence[str], pred: Sequence[str],
                      confidence: Sequence[float]) -> dict[str, Any]:
    """One line of predictions/<part>.jsonl; span confidence is the minimum over its words."""
    confidence = [round(float(c), 6) for c in confidence]
    spans = [{"start_word": span.start, "end_word": span.end, "type": span.type,
              "text": " ".join(words[span.start:span.end]),
              "confidence": min(confidence[span.start:span.end])} for span in spans_from_tags(pred)]
    return {"id": doc_id, "words": list(words), "gold": list(gold), "pred": list(pred),
            "confidence": confidence, "spans": spans}


def write_predictions(run_dir: Path, part: str, records: Iterable[dict[str, Any]]) -> Path:
    return write_jsonl(run_dir / "predictions" / f"{part}.jsonl", records)


def read_predictions(run_dir: str | Path, part: str) -> list[dict[str, Any]]:
    path = Path(run_dir) / "predictions" / f"{part}.jsonl"
    if not path.exists():
        raise MissingInputError(f"{path} not found: train the run first (python -m pipeline train)")
    return [row for _, row in read_jsonl(path)]


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> Path:
    return write_json(run_dir / "metrics.json", metrics)


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise MissingInputError(f"{path} not found: {run_dir} is not a run directory")
    return read_json(path)


def latest_run(output_dir: str | Path, prefix: str) -> Path | None:
    """The newest completed run (with metrics.json) whose name starts with `prefix-`."""
    pattern = re.compile(re.escape(prefix) + r"-\d{8}-\d{6}")
    candidates = sorted(p for p in runs_dir(output_dir).glob(f"{prefix}-*")
                        if pattern.fullmatch(p.name) and (p / "metrics.json").exists())
    return candidates[-1] if candidates else None
