"""`python -m pipeline <stage>`: one command per stage of data -> train -> analyse -> report."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline import configure_logging
from pipeline.cli_flags import add_config_arguments, build_config
from pipeline.config import (
    PROFILES,
    AnalysisConfig,
    BenchConfig,
    BootstrapConfig,
    CombineConfig,
    CompareConfig,
    CRFConfig,
    DataConfig,
    PipelineConfig,
    PredictConfig,
    ReportConfig,
    TrainConfig,
)
from pipeline.core.errors import ConfigError, FileSystemError, MissingInputError, PipelineError
from pipeline.core.files import file_system_error

log = logging.getLogger("pipeline")


def cmd_data(args: argparse.Namespace) -> int:
    from pipeline.data.prepare import format_summary, prepare_data
    from pipeline.modeling.features import length_measure

    config = build_config(DataConfig, args, args.profile)
    summary = prepare_data(config, length_measure(config), progress=not args.quiet)
    print(format_summary(summary))
    print(f"wrote {config.output_dir}/data/ (documents.jsonl, split.json, tags.json, summary.json)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from pipeline.training.train import train_run, train_seeds
    from pipeline.training.train_crf import train_crf

    if args.model == "crf":
        run_dir = train_crf(build_config(CRFConfig, args, args.profile))
        print(f"run directory: {run_dir}")
        return 0
    config = build_config(TrainConfig, args, args.profile)
    run_dirs = [train_run(config, resume=Path(args.resume))] if args.resume else train_seeds(config)
    for run_dir in run_dirs:
        print(f"run directory: {run_dir}")
    return 0


def cmd_combine(args: argparse.Namespace) -> int:
    from pipeline.training.combine import combine_runs

    config = build_config(CombineConfig, args, args.profile)
    run_dir = combine_runs(
        config, resolve_run(config.run, config.output_dir), resolve_run(config.crf_run, config.output_dir)
    )
    print(f"run directory: {run_dir}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.reporting.build import build_report

    build = build_report(build_config(ReportConfig, args, args.profile), progress=not args.quiet)
    print(f"report {build.version} rendered with {build.rendered.renderer}")
    print(f"  site: {build.rendered.site_dir / 'index.html'}")
    print(f"  pdf:  {build.rendered.pdf}")
    return 0


def cmd_quarto_step(args: argparse.Namespace) -> int:
    from pipeline.reporting.build import quarto_post_render, quarto_pre_render

    config = build_config(ReportConfig, args, args.profile)
    if args.step == "pre-render":
        chapters = quarto_pre_render(config, progress=not args.quiet)
        print(f"wrote {chapters}" if chapters else "one file rendered: the notebooks executed last are kept")
    else:
        folder = quarto_post_render(config)
        print(f"report filed under {folder}" if folder else "one file rendered: nothing filed")
    return 0


def cmd_all(args: argparse.Namespace) -> int:
    import time

    from pipeline.stages.runner import run_all

    start = time.perf_counter()
    config = build_config(PipelineConfig, args, args.profile)
    records = run_all(config, args.profile, progress=not args.quiet)  # prints a line per stage
    reused = sum(record.cached for record in records)
    if config.dry_run:
        print(f"all --dry-run: {len(records) - reused} of {len(records)} stages would run; nothing was run")
        return 0
    print(
        f"all: {len(records)} stages ({reused} reused) in {time.perf_counter() - start:.0f} s; "
        f"report: {records[-1].outputs['report']}"
    )
    return 0


def resolve_run(run: str, output_dir: str) -> Path:
    """A run directory path, an exact run name under `<output_dir>/runs`, or the newest run named
    `<run>-<date-time>` (`minilm`: not `minilm-truncate-...` nor `minilm-seed43-...`); else an error that
    lists the finished runs there."""
    from pipeline.core.layout import Outputs, finished_runs, latest_run

    named = Outputs(output_dir).run(run).path
    for candidate in (Path(run), named):
        if candidate.is_dir():
            return candidate
    found = latest_run(output_dir, run)
    if found is None:
        names = [path.name for path in finished_runs(output_dir)]
        near = [name for name in names if name.startswith(run)]
        listed = (
            f"finished runs starting with {run!r}: {', '.join(near)}"
            if near
            else (f"finished runs there: {', '.join(names)}" if names else "no finished run there")
        )
        raise MissingInputError(
            f"no run directory {run!r} and no finished run named {run}-<date-time> under {output_dir}/runs "
            f"(a prefix is every name part before the date-time); {listed}"
        )
    return found


def cmd_analyze(args: argparse.Namespace) -> int:
    from pipeline.evaluation.analyze import analyze_run

    config = build_config(AnalysisConfig, args, args.profile)
    path = analyze_run(resolve_run(args.run, args.output_dir), config)
    print(f"wrote {path}" + (f" and figures in {path.parent / 'figures'}" if config.figures else ""))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pipeline.evaluation.compare import compare_runs

    config = build_config(CompareConfig, args, args.profile)
    run_dirs = [resolve_run(run, args.output_dir) for run in args.runs]
    path = compare_runs(run_dirs, args.output_dir, config)
    print(f"wrote {path} comparing {', '.join(d.name for d in run_dirs)}")
    return 0


def cmd_leak(args: argparse.Namespace) -> int:
    from pipeline.core.layout import Outputs
    from pipeline.evaluation.leak import measure_leak

    config = build_config(AnalysisConfig, args, args.profile)
    rows_output_dir = args.rows_output_dir or str(Outputs(args.output_dir).leak_dir)
    path = measure_leak(
        resolve_run(args.rows_run, rows_output_dir),
        resolve_run(args.document_run, args.output_dir),
        rows_output_dir,
        args.output_dir,
        config,
    )
    print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pipeline.core.files import read_json
    from pipeline.serving.bench import bench_run
    from pipeline.serving.bench_console import format_bench

    config = build_config(BenchConfig, args, args.profile)
    config.students = [str(resolve_run(name, args.output_dir)) for name in config.students]  # names as --run takes
    path = bench_run(resolve_run(args.run, args.output_dir), config, progress=not args.quiet)
    print(format_bench(read_json(path)))
    print(f"wrote {path} and {path.with_name('bench.png')}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from pipeline.core.files import check_writable, file_system_faults
    from pipeline.serving.notes import read_notes
    from pipeline.serving.predict import (
        ALL_FAILED_EXIT,
        chosen_inference,
        completed_ids,
        decision_policy,
        describe,
        load_predictor,
        predict_notes,
    )

    config = build_config(PredictConfig, args, args.profile)
    run_dir = resolve_run(args.run, args.output_dir)
    if Path(args.output).is_dir():
        raise ConfigError(
            f"--output {args.output} is a folder; give a file, e.g. {Path(args.output) / 'predictions.jsonl'}"
        )
    if args.output != "-":
        check_writable(args.output)  # before the model loads
    chosen = chosen_inference(run_dir, config)
    model = load_predictor(run_dir, chosen.variant, chosen.windows)
    print(describe(run_dir, model, chosen, config), file=sys.stderr)
    policy = decision_policy(run_dir, config.threshold)
    config = dataclasses.replace(config, batch_size=chosen.batch_size)
    try:
        with file_system_faults(args.output if args.output != "-" else "the standard output"):
            summary = predict_notes(model, read_notes(args.input), args.output, config, policy, progress=not args.quiet)
    except BaseException:  # a full disk or Ctrl-C: no half-written line stays; a rerun resumes after the last note
        if Path(args.output).is_file():
            completed_ids(Path(args.output))
        raise
    if summary.renamed:
        log.warning(
            "%d note ids repeat in %s; later copies written as %s",
            len(summary.renamed),
            args.input,
            ", ".join(summary.renamed[:5]) + (" ..." if len(summary.renamed) > 5 else ""),
        )
    print(
        f"predict: {summary.written} notes written ({summary.errors} errors), {summary.skipped} already done"
        + (f", {summary.retried} earlier errors retried" if summary.retried else "")
        + f"; output {args.output}"
        + (f"; {summary.queued} notes queued for review in {config.review_brat}" if config.review_brat else ""),
        file=sys.stderr,
    )
    if summary.all_failed:
        log.error("predict: every note failed (see the error records); exit code %d", ALL_FAILED_EXIT)
        return ALL_FAILED_EXIT
    return 0


RUN_HELP = (
    "run directory, run name, or the name's part before its date-time: minilm is the newest "
    "minilm-<date-time>, never minilm-truncate-... or minilm-seed43-..."
)


def add_output_dir(command: argparse.ArgumentParser, what: str = "where run-name prefixes are looked up") -> None:
    command.add_argument("--output-dir", default="outputs", help=f"{what} (default: outputs)")


def add_run_arguments(command: argparse.ArgumentParser) -> None:
    """--run and --output-dir of the commands that read one run."""
    command.add_argument("--run", required=True, help=RUN_HELP)
    add_output_dir(command)


# `leak` reads only the bootstrap settings of AnalysisConfig
BOOTSTRAP_ONLY = tuple(
    {f.name for f in dataclasses.fields(AnalysisConfig)} - {f.name for f in dataclasses.fields(BootstrapConfig)}
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="<stage>")

    def stage(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument(
            "--profile", default="cpu", choices=tuple(PROFILES), help="configuration profile (default: cpu)"
        )
        command.add_argument("--quiet", action="store_true", help="no progress bars")
        command.set_defaults(handler=handler)
        return command

    data = stage("data", cmd_data, "load, convert and split MACCROBAT into outputs/data/")
    add_config_arguments(data, DataConfig)

    train = stage("train", cmd_train, "fine-tune a model on outputs/data/ into outputs/runs/<model>-<date-time>/")
    add_config_arguments(train, TrainConfig)
    add_config_arguments(train, CRFConfig, skip=("output_dir", "wandb", "wandb_log_text"))
    train.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    combine = stage(
        "combine",
        cmd_combine,
        "average a transformer run and a CRF run per word, optionally prior-corrected for rare types (weight "
        "and tau chosen on validation) into "
        "outputs/runs/combined-<date-time>/",
    )
    add_config_arguments(combine, CombineConfig)
    report = stage("report", cmd_report, "execute the report notebooks and render outputs/report/<version>/")
    add_config_arguments(report, ReportConfig)
    quarto_step = stage(
        "quarto-step",
        cmd_quarto_step,
        "the pre-render (papermill, chapter list) and post-render (filing) steps of a bare `quarto render`",
    )
    quarto_step.add_argument("step", choices=("pre-render", "post-render"))
    add_config_arguments(quarto_step, ReportConfig, skip=("renderer",))

    everything = stage(
        "all",
        cmd_all,
        "data -> train -> analyze -> bench -> compare -> report, reusing stages whose inputs did not change",
    )
    add_config_arguments(everything, PipelineConfig)

    analyze = stage(
        "analyze",
        cmd_analyze,
        "scores with intervals, tiers, errors, confidence and readiness of one run into <run>/analysis/",
    )
    add_run_arguments(analyze)
    add_config_arguments(analyze, AnalysisConfig)
    compare = stage("compare", cmd_compare, "compare runs on the same test documents into outputs/comparison/")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="run directories or run-name prefixes")
    add_output_dir(compare, "where comparison/ is written")
    add_config_arguments(
        compare,
        CompareConfig,
        skip=(
            "examples",
            "context_words",
            "figures",
            "high_value_types",
            "high_value_threshold",
            "target_precision",
            "policy_thresholds",
            "policy_min_support",
            "review_seconds_per_span",
            "review_notes",
        ),
    )
    leak = stage(
        "leak",
        cmd_leak,
        "the leak of a row split: a run trained on a row split of the rebuilt Hugging Face set against the same "
        "model on the document split, into outputs/leak/leak.json (`all` runs the whole experiment)",
    )
    leak.add_argument("--rows-run", required=True, help="the row-split run (directory or name prefix)")
    leak.add_argument("--document-run", required=True, help="the document-split run (directory or name prefix)")
    leak.add_argument("--rows-output-dir", help="the row split's output folder (default: <output-dir>/leak)")
    add_output_dir(leak, "where leak/leak.json is written")
    add_config_arguments(leak, AnalysisConfig, skip=BOOTSTRAP_ONLY)
    bench = stage(
        "bench",
        cmd_bench,
        "latency, throughput, memory and test F1 of every inference variant of a run, "
        "against the transformers pipeline, into <run>/bench.json",
    )
    add_run_arguments(bench)
    add_config_arguments(bench, BenchConfig)
    predict = stage(
        "predict",
        cmd_predict,
        "entity spans with character offsets for raw notes (.txt, folder, "
        ".jsonl, or - for JSON lines on stdin), resumable; exit code 2 for bad options, a missing input or a "
        "write the machine refuses, 3 when every note failed, 130 when interrupted (Ctrl-C)",
    )
    predict.add_argument(
        "--run",
        "--run-dir",
        dest="run",
        required=True,
        help=RUN_HELP + "; under torchrun spell it --run-dir (torchrun's own parser claims --run as an abbreviation)",
    )
    predict.add_argument("--input", required=True, help=".txt file, folder of .txt, .jsonl of {id, text}, or -")
    predict.add_argument("--output", default="-", help="output .jsonl (appended to and resumed); - = stdout")
    add_output_dir(predict)
    add_config_arguments(predict, PredictConfig)
    return parser


# the commands that write shared files of an outputs/ folder: one at a time per folder
LOCKED_COMMANDS = ("data", "train", "all", "report")


def locked_root(args: argparse.Namespace) -> str | None:
    """The outputs/ folder a command locks: none for readers, and none for the other processes of a
    torchrun or accelerate launch (process 0 holds the lock for all of them)."""
    import os

    if args.command not in LOCKED_COMMANDS or int(os.environ.get("RANK", "0")) != 0:
        return None
    if getattr(args, "dry_run", False):  # `all --dry-run` writes nothing
        return None
    if getattr(args, "resume", None):  # train --resume outputs/runs/<run>: its outputs/ folder
        return str(Path(args.resume).parents[1])
    return args.output_dir or "outputs"  # every config's default


INTERRUPTED_EXIT = 130  # what shells report for a command stopped by Ctrl-C (128 + SIGINT)


def command_line(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "pipeline", *argv])


def run_names(args: argparse.Namespace) -> set[str]:
    """The run folders `train` finds before it starts (the one it adds is the one to resume)."""
    from pipeline.core.layout import Outputs

    if args.command != "train":
        return set()
    runs = Outputs(args.output_dir or "outputs").runs
    return {path.name for path in runs.iterdir()} if runs.is_dir() else set()


def resume_hint(args: argparse.Namespace, argv: list[str], runs_before: set[str]) -> str:
    """How to pick up where a stopped command left off: a transformer run `train` started continues from its
    last checkpoint with `train --resume`; `predict` keeps the notes written and `all` its finished stages,
    so their own command resumes them; any other command writes whole files only, so it simply runs again."""
    from pipeline.core.layout import Outputs, RunFolder

    again = f"resume with `{command_line(argv)}`"
    if args.command == "predict" and Path(args.output).is_file():
        from pipeline.serving.predict import completed_ids

        kept = len(completed_ids(Path(args.output))[0])
        return f"{again} (the {kept} notes written are kept)" if kept else again
    if args.command == "all":
        return f"{again} (finished stages are reused)"
    if args.command != "train" or args.resume or args.model == "crf":
        return again
    runs = Outputs(args.output_dir or "outputs").runs
    started = sorted(name for name in run_names(args) - runs_before if not RunFolder(runs / name).metrics.exists())
    if not started:
        return again
    hint = f"resume with `{command_line(['train', '--resume', str(runs / started[-1])])}` (from its last checkpoint)"
    seeds = args.seeds or []
    seed = next((s for s in seeds if f"-seed{s}-" in started[-1]), None)
    later = seeds[seeds.index(seed) + 1 :] if seed is not None else []
    if later:
        hint += f"; then `--seeds {','.join(map(str, later))}` trains the seeds not started"
    return hint


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):
        import os

        os.environ["TQDM_DISABLE"] = "1"  # also silences the bars of datasets and papermill
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # and transformers' "Loading weights" bar
    runs_before = run_names(args)
    try:
        root = locked_root(args)
        if root is not None:
            from pipeline.core.layout import locked_outputs

            with locked_outputs(root, args.command):  # released however the command ends
                return args.handler(args)
        return args.handler(args)
    except KeyboardInterrupt:
        log.error("interrupted; %s", resume_hint(args, argv, runs_before))
        return INTERRUPTED_EXIT
    except FileSystemError as exc:
        log.error("%s, then %s", exc, resume_hint(args, argv, runs_before))
        return 2
    except PipelineError as exc:  # anything else is a bug: its traceback stays
        log.error("%s", exc)
        return 2
    except OSError as exc:  # a write the package makes without `file_system_faults` (e.g. the lock file)
        fault = file_system_error(exc)
        if fault is None:
            raise
        log.error("%s, then %s", fault, resume_hint(args, argv, runs_before))
        return 2
