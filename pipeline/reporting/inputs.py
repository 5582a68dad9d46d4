"""The JSON the report reads, gathered per run: config, metrics, and analysis/bench when present.

The report notebooks call these loaders and nothing else for input; optional files (an analysis
not yet run, a run without a benchmark or a deployment policy) load as None so a page can say what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.layout import (
    AblationRecord,
    AnalysisRecord,
    BenchRecord,
    ComparisonRecord,
    LeakRecord,
    MetricsRecord,
    Outputs,
    PolicyRecord,
    RunFolder,
    SeedSummaryRecord,
    read_metrics,
    read_optional_record,
    read_record,
    read_run_config,
)


@dataclass(frozen=True)
class RunInputs:
    name: str
    folder: Path
    config: dict[str, Any]
    metrics: MetricsRecord
    analysis: AnalysisRecord | None
    bench: BenchRecord | None
    policy: PolicyRecord | None = None  # the deployment policy `analyze` chose on validation

    @property
    def model(self) -> str:
        return self.config.get("model", self.name)

    @property
    def select_on(self) -> str:
        """The validation score that kept the run's epoch (runs recorded before the choice existed: micro)."""
        return str(self.metrics.get("select_on", "micro"))

    @property
    def long_docs(self) -> str:
        """'window' (every word, overlapping windows) or 'truncate' (the first window only)."""
        return self.config.get("train", {}).get("long_docs", "window")

    @property
    def label(self) -> str:
        """How the report names a run: the model, with its long-document mode and split when unusual."""
        parts = [self.model]
        if self.config.get("train", {}).get("encoder_layers"):  # a student on the first k encoder layers
            parts.append(f"{self.config['train']['encoder_layers']}layers")
        if self.long_docs == "truncate":
            parts.append("truncate")
        if self.config.get("split_strategy") == "rows":
            parts.append("row-split")
        if self.config.get("train", {}).get("seeds"):  # one of several runs of `train --seeds`
            parts.append(f"seed{self.config['train']['seed']}")
        elif self.metrics.get("transformer_seed") is not None:  # a combined run of one of them
            parts.append(f"seed{self.metrics['transformer_seed']}")
        return "-".join(parts)


def load_run(run_dir: str | Path) -> RunInputs:
    """A finished run's records; a record of an older schema stops the report with the command that rebuilds it."""
    folder = RunFolder(run_dir)
    return RunInputs(
        folder.name,
        folder.path,
        read_run_config(folder.path),
        read_metrics(folder.path),
        read_optional_record(folder.analysis, "analysis", folder.name),
        read_optional_record(folder.bench, "bench", folder.name),
        read_optional_record(folder.policy, "policy", folder.name),
    )


def load_runs(output_dir: str | Path, names: Sequence[str]) -> list[RunInputs]:
    return [load_run(Outputs(output_dir).run(name).path) for name in names]


def load_data_summary(output_dir: str | Path) -> dict[str, Any] | None:
    return read_optional_record(Outputs(output_dir).summary, "summary")


def load_comparison(output_dir: str | Path) -> ComparisonRecord | None:
    return read_optional_record(Outputs(output_dir).comparison, "comparison")


def load_ablation(output_dir: str | Path) -> AblationRecord | None:
    """ablation.json of `compare`; None before a comparison."""
    return read_optional_record(Outputs(output_dir).ablation, "ablation")


def load_seed_summary(output_dir: str | Path) -> SeedSummaryRecord | None:
    """seeds.json of `compare`; None when no compared runs differ only by seed."""
    return read_optional_record(Outputs(output_dir).seeds, "seeds")


def load_stage_records(output_dir: str | Path) -> list[dict[str, Any]]:
    """The stage records of `all` (outputs/stages/<stage>.json) in the order they finished; empty when the
    stages were run one by one."""
    folder = Outputs(output_dir).stages
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    records = [read_record(path, "stage") for path in paths]
    return sorted(records, key=lambda record: (record.get("finished", ""), record["stage"]))


def load_leak(output_dir: str | Path) -> LeakRecord | None:
    """leak.json of the leak experiment; None when `all` did not run it (not a brat source)."""
    return read_optional_record(Outputs(output_dir).leak, "leak")
