"""The "How to reproduce" appendix: how each run was made and where its configuration is saved.

Read from each run's config.json (command line, creation time, seed, git commit, split hash, package
versions), data/summary.json (the split's seed), comparison.json (the bootstrap's seed and resamples)
and the stage records of `all` (outputs/stages/<stage>.json: what ran, why, and how long it took).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.core.provenance import machine_name
from pipeline.reporting import narrative
from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.tables.formatting import not_measured

SHORT_HASH = 12  # characters of a git commit or split hash shown in a table


def short(value: str | None) -> str:
    """A hash cut to its first characters, keeping a `-dirty` mark (a commit with uncommitted changes)."""
    if not value:
        return "–"
    dirty = value.endswith("-dirty")
    return value.removesuffix("-dirty")[:SHORT_HASH] + (" (uncommitted changes)" if dirty else "")


def training_seed(run: RunInputs) -> str:
    """The seed the run was trained with; a CRF has none (L-BFGS is deterministic), a combined run has its
    transformer part's."""
    seed = run.config.get("train", {}).get("seed", run.metrics.get("transformer_seed"))
    return "–" if seed is None else str(seed)


def provenance_table(runs: Sequence[RunInputs]) -> pd.DataFrame:
    """Per run: when and how it was made, from which code, on which documents (config.json)."""
    return pd.DataFrame(
        [
            {
                "run": run.name,
                "command": run.config.get("command") or "–",
                "created": run.config.get("created") or "–",
                "training seed": training_seed(run),
                "git commit": short(run.config.get("git_commit")),
                "split (hash of its document lists)": short(run.config.get("split_hash")),
                "configuration": f"runs/{run.name}/config.json",
            }
            for run in runs
        ]
    )


def versions_table(runs: Sequence[RunInputs]) -> pd.DataFrame:
    """The package versions every run recorded; a package whose version differs between runs lists each
    version with the runs that used it."""
    by_package: dict[str, dict[str, list[str]]] = {}
    for run in runs:
        for package, version in (run.config.get("versions") or {}).items():
            by_package.setdefault(package, {}).setdefault(str(version), []).append(run.label)
    if not by_package:
        return not_measured("package versions", "python -m pipeline train (config.json records them)")
    rows = []
    for package, versions in by_package.items():
        if len(versions) == 1:
            text = next(iter(versions))
        else:
            text = "; ".join(f"{version} ({', '.join(labels)})" for version, labels in versions.items())
        rows.append({"package": package, "version": text})
    return pd.DataFrame(rows)


def seeds_sentence(summary: dict[str, Any] | None, comparison: dict[str, Any] | None) -> str:
    """The seeds that fix the split and the bootstrap (the training seeds are in the table)."""
    parts = []
    if summary:
        split = summary["split"]
        parts.append(f"the split is {split['strategy']} with seed {split['seed']} (`data --seed`)")
    if comparison:
        parts.append(
            f"the bootstrap draws {comparison['resamples']} resamples of the documents with seed {comparison['seed']} "
            "(`--resamples`, `--seed` of `analyze` and `compare`)"
        )
    if not parts:
        return "No data summary or comparison yet: run `python -m pipeline all`."
    return "Besides each run's training seed, " + " and ".join(parts) + "."


def stage_table(stages: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """What `all` ran, from its stage records: each stage's time the last time it ran, and why it ran."""
    if not stages:
        return not_measured("the stages of `all`", "python -m pipeline all")
    return pd.DataFrame(
        [
            {
                "stage": record["stage"],
                "seconds": f"{record['seconds']:.1f}",
                "machine": machine_name(record.get("machine")),
                "finished": record.get("finished", "–"),
                "why it ran": record.get("reason", "–"),
                "record": f"stages/{record['stage']}.json",
            }
            for record in stages
        ]
    )


def stages_sentence(stages: Sequence[dict[str, Any]]) -> str:
    """The total time of the recorded stages; the report stage records its own time after this page is built."""
    if not stages:
        return "`python -m pipeline all` records every stage it runs under `outputs/stages/`."
    total = sum(record["seconds"] for record in stages)
    machines = narrative.joined(list(dict.fromkeys(machine_name(record.get("machine")) for record in stages)))
    return (
        f"The {len(stages)} recorded stages took {total / 60:.1f} minutes in all on {machines}, each timed the last "
        "time it ran (a stage reused since keeps the time and machine of that run; the report stage is timed once "
        "this page is built)."
    )
