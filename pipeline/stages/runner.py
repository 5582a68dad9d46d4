"""Runs the table of `all` in order (`run_all`): a stage whose key matches its record is reused, the
others run, training and benchmarking each in a fresh process, and every stage that ran leaves its
record in `outputs/stages/<stage>.json`.

`--dry-run` runs and writes nothing: it prints, per stage, `reuse` or `would run` with the reasons
(no record yet, outputs missing, --force, config changed, code changed naming the files, upstream
<name> reruns, data source changed, ...), from the components of each record.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from pipeline import __version__, configure_logging
from pipeline.config import PipelineConfig, check_overrides
from pipeline.core.files import read_json, sha256_of
from pipeline.core.layout import SCHEMAS, Outputs, write_record
from pipeline.core.provenance import machine
from pipeline.stages.cache import StageRecord, code_closure, config_inputs, differing, module_hashes, module_label
from pipeline.stages.table import Action, Overrides, Stage, plan_stages


def in_fresh_process(action: Callable[..., Any], *args: Any) -> Any:
    """Run `action(*args)` in a new Python process: the training and benchmark stages report peak
    memory, which a process that already ran other stages would overstate (RSS only grows)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=start_fresh_process,
        initargs=(os.getpid(),),
    ) as pool:
        return pool.submit(action, *args).result()


def start_fresh_process(parent: int) -> None:
    """Logging as in the parent, and (on Linux) die with it: a stage process orphaned by a `kill -9`
    of `all` would otherwise finish its run unrecorded, and the rerun would train it a second time."""
    configure_logging()
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)


class StageRunner:
    """Runs stages in order, skipping those whose key matches their record, and says so; with
    `dry_run` it only says what it would do, and why."""

    def __init__(
        self,
        output_dir: str | Path,
        total: int,
        force: bool = False,
        echo: Callable[[str], None] = print,
        dry_run: bool = False,
    ) -> None:
        self.folder = Outputs(output_dir).stages
        self.total, self.force, self.echo, self.dry_run = total, force, echo, dry_run
        self.done: list[StageRecord] = []

    def saved(self, name: str) -> dict[str, Any] | None:
        """The stage's record; one of another schema (an older pipeline) counts as none."""
        path = self.folder / f"{name}.json"
        record = read_json(path) if path.exists() else None
        return record if record and record.get("schema_version") == SCHEMAS["stage"][0] else None

    def reasons(
        self, saved: dict[str, Any] | None, key: str, inputs: dict[str, Any], modules: dict[str, str] | None
    ) -> list[str]:
        """Why the stage must run; none when its record has the key and its outputs exist."""
        if self.force:
            return ["--force"]
        if saved is None:
            return ["no record yet"]
        missing = not all(Path(p).exists() for p in saved.get("outputs", {}).values())
        changed = [] if saved.get("key") == key else self.changes(saved, inputs, modules) or ["inputs changed"]
        return ["outputs missing"] * missing + changed

    def changes(self, saved: dict[str, Any], inputs: dict[str, Any], modules: dict[str, str] | None) -> list[str]:
        """The recorded components that differ from `inputs`, as reasons."""
        before = saved.get("inputs", {})
        reasons: list[str] = []
        for part in differing(before, inputs):
            if part == "code":
                files = ", ".join(map(module_label, differing(saved.get("modules"), modules or {})))
                reasons.append(f"code changed ({files})" if files else "code changed")
            elif part == "upstream":
                reasons += self.upstream_changes(differing(before.get(part), inputs.get(part, {})))
            elif part == "extra":
                reasons += [f"{name} changed" for name in differing(before.get(part), inputs.get(part, {}))]
            else:
                reasons.append(f"{part} changed")
        return reasons

    def upstream_changes(self, names: list[str]) -> list[str]:
        """Upstream stages that ran (or would run) in this run, then those whose record changed."""
        ran = {record.name for record in self.done if not record.cached}
        rerun = [name for name in names if name in ran]
        other = [name for name in names if name not in ran]
        return [f"upstream {', '.join(rerun)} rerun{'s' * (len(rerun) == 1)}"] * bool(rerun) + [
            f"upstream {', '.join(other)} changed"
        ] * bool(other)

    def run_stage(self, stage: Stage) -> StageRecord:
        """A stage of the table, keyed by its config, its code closure, the identities of the
        stages it needs (run or reused before it) and its extra inputs."""
        closure = code_closure(stage.entry)
        done = {record.name: record for record in self.done}
        modules = module_hashes(closure, stage.config)
        inputs = {
            "config": sha256_of(config_inputs(stage.config)),
            "code": sha256_of(modules),
            "upstream": {name: done[name].identity for name in stage.needs},
            "extra": dict(stage.extra),
        }
        action = partial(in_fresh_process, stage.action) if stage.fresh_process else stage.action
        return self.run(stage.name, inputs, action, label=f"{stage.name} ({stage.command})", modules=modules)

    def run(
        self,
        name: str,
        inputs: dict[str, Any],
        action: Action,
        label: str | None = None,
        modules: dict[str, str] | None = None,
    ) -> StageRecord:
        """Reuse the stage, run it, or (dry run) say it would run; `modules` are the per-file code
        hashes to record."""
        key = sha256_of({"stage": name, "pipeline": __version__, **inputs})
        position = f"[{len(self.done) + 1}/{self.total}] {label or name}"
        saved = self.saved(name)
        reason = "; ".join(self.reasons(saved, key, inputs, modules))
        if saved is not None and not reason:
            record = StageRecord(name, key, saved["outputs"], 0.0, cached=True)
            self.echo(
                f"{position}: reuse (finished {saved.get('finished', '?')})"
                if self.dry_run
                else f"{position}: unchanged, reusing {', '.join(saved['outputs'].values()) or 'its record'} "
                f"(finished {saved.get('finished', '?')})"
            )
        elif self.dry_run:
            record = StageRecord(name, key, {}, 0.0, cached=False, reason=reason)
            self.echo(f"{position}: would run: {reason}")
        else:
            record = self.execute(name, key, inputs, modules, reason, action, position)
        self.done.append(record)
        return record

    def execute(
        self,
        name: str,
        key: str,
        inputs: dict[str, Any],
        modules: dict[str, str] | None,
        reason: str,
        action: Action,
        position: str,
    ) -> StageRecord:
        """Run the action and record the key, its components, the reason and the outputs."""
        self.echo(f"{position}: running")
        start = time.perf_counter()
        outputs = {label: str(path) for label, path in action().items()}
        seconds = time.perf_counter() - start
        write_record(
            self.folder / f"{name}.json",
            "stage",
            {
                "stage": name,
                "key": key,
                "inputs": inputs,
                "modules": modules,
                "reason": reason,
                "outputs": outputs,
                "seconds": round(seconds, 1),
                "machine": machine(),
                "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            },
        )
        self.echo(f"{position}: done in {seconds:.0f} s")
        return StageRecord(name, key, outputs, seconds, cached=False, reason=reason)


def run_stages(
    stages: list[Stage],
    output_dir: str | Path,
    force: bool = False,
    dry_run: bool = False,
    echo: Callable[[str], None] = print,
) -> list[StageRecord]:
    """Every stage of the table in order; the position total is the table's length."""
    runner = StageRunner(output_dir, len(stages), force, echo, dry_run)
    for stage in stages:
        runner.run_stage(stage)
    return runner.done


def run_all(
    config: PipelineConfig,
    profile: str = "cpu",
    progress: bool = True,
    echo: Callable[[str], None] = print,
    overrides: Overrides | None = None,
) -> list[StageRecord]:
    """The whole chain; returns one record per stage: reused, run, or with `config.dry_run` what
    would happen and why (then nothing runs and nothing is written)."""
    check_overrides(overrides)
    return run_stages(
        plan_stages(config, profile, overrides, progress), config.output_dir, config.force, config.dry_run, echo
    )
