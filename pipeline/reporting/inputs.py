"""The JSON the report reads, gathered per run: config, metrics, and analysis/bench when present.

The report notebooks call these loaders and nothing else for input; optional files (an analysis
not yet run, a run without a benchmark) load as None so a page can say what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from pipeline.core.errors import MissingInputError
from pipeline.core.files import read_json
from pipeline.core.layout import read_run_config, runs_dir


@dataclass(frozen=True)
class RunInputs:
    name: str
    folder: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    analysis: dict[str, Any] | None
    bench: dict[str, Any] | None

    @property
    def model(self) -> str:
        return self.config.get("model", self.name)

    @property
    def long_docs(self) -> str:
        """'window' (every word, overlapping windows) or 'truncate' (the first window only)."""
        return self.config.get("train", {}).get("long_docs", "window")

    @property
    def label(self) -> str:
        """How the report names a run: the model, with its long-document mode and split when unusual."""
        parts = [self.model]
        if self.long_docs == "truncate":
            parts.append("truncate")
        if self.config.get("split_strategy") == "rows":
            parts.append("row-split")
        return "-".join(parts)


def optional_json(path: Path) -> dict[str, Any] | None:
    return read_json(path) if path.exists() else None


def load_run(run_dir: str | Path) -> RunInputs:
    folder = Path(run_dir)
    metrics_path = folder / "metrics.json"
    if not metrics_path.exists():
        raise MissingInputError(f"{metrics_path} not found: the run did not finish")
    return RunInputs(folder.name, folder, read_run_config(folder), read_json(metrics_path),
                     optional_json(folder / "analysis" / "analysis.json"), optional_json(folder / "bench.json"))


def load_runs(output_dir: str | Path, names: Sequence[str]) -> list[RunInputs]:
    return [load_run(runs_dir(output_dir) / name) for name in names]


def load_data_summary(output_dir: str | Path) -> dict[str, Any] | None:
    return optional_json(Path(output_dir) / "data" / "summary.json")


def load_comparison(output_dir: str | Path) -> dict[str, Any] | None:
    return optional_json(Path(output_dir) / "comparison" / "comparison.json")
