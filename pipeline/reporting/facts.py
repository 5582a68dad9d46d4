"""Numbers the summary pages reason with, read from analysis.json, comparison.json and bench.json.

One place knows where each number lives in those files: the F1 interval, the rare-tier F1, the
inference speed and the bootstrap probability that one run beats another. A number that was not
measured (no analysis yet, no benchmark for the CRF) is None, and the sentences say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.core.errors import MissingInputError
from pipeline.core.layout import BenchRecord, Outputs
from pipeline.core.provenance import machine_name
from pipeline.evaluation.compare import bench_speed
from pipeline.modeling.registry import MODELS
from pipeline.reporting import narrative
from pipeline.reporting.inputs import RunInputs
from pipeline.reporting.narrative import ModelFacts
from pipeline.serving.bench_console import student_sentence, timing_sentence


def f1_interval(run: RunInputs) -> tuple[float, float] | None:
    """95% bootstrap interval of the test micro-F1 (analysis.json scores.intervals.micro_f1)."""
    bounds = ((run.analysis or {}).get("scores", {}).get("intervals", {}) or {}).get("micro_f1")
    return (bounds[0], bounds[1]) if bounds else None


def tier_f1(run: RunInputs) -> dict[str, float]:
    """F1 per tier (analysis.json tiers.<tier>.f1)."""
    return {
        tier: values["f1"]
        for tier, values in ((run.analysis or {}).get("tiers") or {}).items()
        if values.get("f1") is not None
    }


def docs_per_second(run: RunInputs) -> float | None:
    """Inference throughput of the run's fastest variant that keeps F1 (bench.json, read by `bench_speed`)."""
    speed = bench_speed(run.bench)
    return speed["docs_per_second"] if speed else None


def speed_target(run: RunInputs) -> str:
    """The bench summary's verdict on the speed target (bench.json summary and reference), for a combined
    run on its speed beside its transformer part alone (`transformer_part`), and the lighter runs timed
    beside it (`students`); empty without any."""
    bench = run.bench or {}
    part = bench.get("transformer_part")
    sentences = [
        reference_target(bench, reads_every_word=run.long_docs != "truncate"),
        narrative.part_speed_sentence(part, bench["config"]["rounds"]) if part else "",
        students_sentence(run),
    ]
    return " ".join(sentence for sentence in sentences if sentence)


def students_sentence(run: RunInputs) -> str:
    """The lighter runs timed in the same rounds as this one (`bench --students`), each against this run's
    chosen subject and fp32 on validation, and which of them bench names instead; empty without any."""
    students = bench_rows(run, "students")
    if not students:
        return ""
    bench = run.bench or {}
    tolerance = bench["config"]["student_tolerance"]
    told = [f"Timed in the same rounds, {student_sentence(student, tolerance)}." for student in students]
    summary = bench.get("summary") or {}
    lighter = summary.get("lighter")
    if lighter:
        chosen = summary["chosen"]["label"]
        told.append(
            f"Bench names {lighter['run']} the lighter choice, to serve (`python -m pipeline predict --run "
            f"{lighter['run']}`) where {run.label}'s speed falls short of a requirement; on test, reported once, it "
            f"scores {lighter['test_micro_f1']:.3f} against {summary['test_micro_f1'][chosen]:.3f} for {chosen}."
        )
    else:
        told.append(
            f"No student is within the {tolerance:g}-point tolerance on validation and faster than the chosen "
            f"subject, so {run.label} keeps its own choice."
        )
    return " ".join(told)


def reference_target(bench: BenchRecord, reads_every_word: bool) -> str:
    """The verdict against the plain transformers pipeline; empty without a reference timed."""
    summary, reference = bench.get("summary") or {}, bench.get("reference")
    if not reference or summary.get("best_ratio_to_reference") is None:
        return ""
    return narrative.speed_target_sentence(
        summary["ratio_variant"],
        summary["best_ratio_to_reference"],
        summary["target_ratio"],
        summary["f1_kept"],
        reference["docs_per_second"],
        reference["test_micro_f1"],
        reference["truncated_documents"],
        reference.get("test_documents", bench["lengths"]["documents"]),  # older bench.json: no test count
        bench["config"]["f1_tolerance"],
        reads_every_word=reads_every_word,
        ratio_range=(
            (
                summary["ratio_best"]["min"],
                summary["ratio_best"]["max"],
                bench["config"]["rounds"],
                summary["target_min_ratio"],
            )
            if summary.get("ratio_best")
            else None
        ),
    )


def machine_sentence(run: RunInputs) -> str:
    """This bench's machine: its measured matmul peak (the CPU's, and the GPU's beside it on a GPU machine);
    empty without one (the CPU-against-GPU section says whether GPU rows were measured)."""
    bench = run.bench or {}
    peak: dict[str, float | None] = bench.get("peak") or {}
    if not bench.get("variants") or not peak:
        return ""
    measured = f"Measured peak of this machine's CPU ({bench['threads']} threads, 1024x1024 matmuls): {peak_list(peak)}"
    timing = bench.get("timing")
    timed = timing_sentence(timing) if timing else ""
    sentence = (f"{timed[:1].upper()}{timed[1:]}. " if timed else "") + measured
    gpu_peak = bench.get("gpu_peak")
    if gpu_peak:
        sentence += f"; of its GPU ({bench['device']}, 8192x8192 matmuls): {peak_list(gpu_peak)}"
    return sentence + (
        "; each row's share of peak is its encoder's useful GFLOP/s over the peak of its number format "
        "on its own device."
    )


def peak_list(peak: dict[str, float | None]) -> str:
    return ", ".join(
        f"{name} {value:.0f} {'GOP/s' if name == 'int8' else 'GFLOP/s'}" for name, value in peak.items() if value
    )


def p_better(
    comparison: dict[str, Any] | None, runs: Sequence[RunInputs], key: str = "pairwise_selection"
) -> dict[tuple[str, str], float]:
    """P(A>B) and P(B>A) from a paired bootstrap of comparison.json (validation by default: choices read
    it; `pairwise` for test), keyed by the runs' labels; ties count for neither."""
    labels = {run.name: run.label for run in runs}
    pairs = {}
    for pair in (comparison or {}).get(key, []):
        a, b = labels.get(pair["a"]), labels.get(pair["b"])
        if a and b:
            pairs[(a, b)] = pair["p_a_better"]
            pairs[(b, a)] = pair["p_b_better"]
    return pairs


def selection_scores(run: RunInputs, comparison: dict[str, Any] | None) -> dict[str, Any]:
    """The run's validation scores with their interval (comparison.json models[].selection); without a
    comparison, the validation F1 of metrics.json and no interval."""
    row = next((m for m in (comparison or {}).get("models", []) if m["run"] == run.name), None)
    return row["selection"] if row else {"micro": run.metrics["validation"]["micro"], "micro_f1_ci": None}


def model_facts(runs: Sequence[RunInputs], comparison: dict[str, Any] | None) -> list[ModelFacts]:
    """What the choice weighs, per run: validation micro-F1 and interval, speed, test rare-tier F1."""
    facts = []
    for run in runs:
        scores = selection_scores(run, comparison)
        bounds = scores["micro_f1_ci"]
        facts.append(
            ModelFacts(
                run.label,
                scores["micro"]["f1"],
                bounds[0] if bounds else None,
                bounds[1] if bounds else None,
                docs_per_second(run),
                tier_f1(run).get("rare"),
            )
        )
    return facts


def test_facts(run: RunInputs) -> ModelFacts:
    """The run's test micro-F1 with its bootstrap interval: what the report states after the choice."""
    bounds = f1_interval(run)
    return ModelFacts(
        run.label,
        run.metrics["test"]["micro"]["f1"],
        bounds[0] if bounds else None,
        bounds[1] if bounds else None,
        docs_per_second(run),
        tier_f1(run).get("rare"),
        part="test",
    )


def runs_output_dir(runs: Sequence[RunInputs]) -> Path:
    """The output folder the runs lie in (`<output_dir>/runs/<run>`)."""
    return runs[0].folder.parent.parent if runs else Path("outputs")


def compare_command(runs: Sequence[RunInputs]) -> str:
    return f"python -m pipeline compare {' '.join(run.name for run in runs)} --output-dir {runs_output_dir(runs)}"


def selection(comparison: dict[str, Any] | None, runs: Sequence[RunInputs]) -> dict[str, Any]:
    """comparison.json's choice by requirements, then accuracy; an error naming the command when it is missing,
    was computed for other runs than the report's, or chose none (with what each candidate failed)."""
    command = compare_command(runs)
    chosen = (comparison or {}).get("selection")
    if not chosen:
        raise MissingInputError(f"no model selection in {Outputs(runs_output_dir(runs)).comparison}: run `{command}`")
    if chosen["chosen"] is None:
        failed = "; ".join(
            f"{row['run']}: {narrative.failure_text(row)}"
            for row in chosen["failed"]
            if row["note"] != "not benchmarked"
        )
        unbenched = ", ".join(chosen["not_benchmarked"])
        raise MissingInputError(
            "no compared run meets every deployment requirement, so no model is chosen"
            + (f" ({failed})" if failed else "")
            + (f"; not benchmarked: {unbenched} (`python -m pipeline bench --run <run>`)" if unbenched else "")
            + f"; or state other requirements: `{command} --throughput-notes .. --max-memory-mb ..`"
        )
    if chosen["chosen"] not in {run.name for run in runs}:
        raise MissingInputError(f"the chosen model {chosen['chosen']} is not among the report's runs: run `{command}`")
    return chosen


def decision(comparison: dict[str, Any] | None, runs: Sequence[RunInputs]) -> dict[str, Any]:
    """comparison.json's decision matrix (the sensitivity view); an error naming the command when it is missing
    or was computed for other runs than the report's."""
    command, output_dir = compare_command(runs), runs_output_dir(runs)
    matrix = (comparison or {}).get("decision")
    if not matrix:
        raise MissingInputError(f"no decision matrix in {Outputs(output_dir).comparison}: run `{command}`")
    if matrix["winner"] not in {run.name for run in runs}:
        raise MissingInputError(
            f"the decision matrix's winner {matrix['winner']} is not among the report's runs: run `{command}`"
        )
    return matrix


def candidate_facts(row: dict[str, Any], label: str) -> ModelFacts:
    """A selection candidate's validation micro-F1 with its interval and the docs/s of the variant bench chose."""
    bounds = row["validation_f1_ci"]
    return ModelFacts(
        label,
        row["validation_f1"],
        bounds[0] if bounds else None,
        bounds[1] if bounds else None,
        row["docs_per_second"],
    )


def policy_sentences(run: RunInputs) -> list[str]:
    """Two sentences: the run's deployment policy (policy.json), and its test result beside the validation
    estimate (analysis.json `policy`)."""
    command = f"python -m pipeline analyze --run {run.name}"
    if run.policy is None:
        return [f"{run.label} has no deployment policy yet: run `{command}`.", "It has no test result without one."]
    entries = run.policy["types"].values()
    own = sum(entry["threshold"] is not None and entry["source"] == "type" for entry in entries)
    pooled = sum(entry["threshold"] is not None and entry["source"] == "pooled" for entry in entries)
    sentence = narrative.policy_sentence(run.label, len(entries), own, pooled, run.policy["always_review"])
    test = (run.analysis or {}).get("policy")
    if not test:
        return [sentence, f"Its test result needs the analysis: run `{command}`."]
    settings = run.policy["settings"]
    return [
        sentence,
        narrative.policy_test_sentence(test, run.policy["validation"], settings["notes"], settings["seconds_per_span"]),
    ]


def policy_rule(run: RunInputs) -> str:
    """How the policy was chosen, in the settings it was chosen with (policy.json `settings`)."""
    if run.policy is None:
        return f"No deployment policy: run `python -m pipeline analyze --run {run.name}`."
    settings, pooled = run.policy["settings"], run.policy["pooled"]
    return narrative.policy_rule_sentence(
        settings["target_precision"],
        settings["min_support"],
        settings["thresholds"],
        len(pooled["types"]),
        pooled["threshold"],
        settings["notes"],
        settings["seconds_per_span"],
    )


def choice_sentences(runs: Sequence[RunInputs], comparison: dict[str, Any] | None) -> list[str]:
    """Why the chosen model (requirements met, validation accuracy, credibility), then the candidates that fail
    a requirement (none: no sentence)."""
    chosen = selection(comparison, runs)
    labels = {run.name: run.label for run in runs}

    def label(name: str) -> str:
        return labels.get(name, name)

    rows = {row["run"]: row for row in chosen["candidates"]}
    others = [
        (candidate_facts(rows[v["run"]], label(v["run"])), v["p_better"], v["credible"]) for v in chosen["versus"]
    ]
    sentences = [
        narrative.choice_sentence(
            label(chosen["chosen"]),
            chosen["basis"],
            candidate_facts(rows[chosen["most_accurate"]], label(chosen["most_accurate"])),
            others,
            chosen["credible"],
        )
    ]
    failures = [
        (label(row["run"]), row["run"], [check for check in row["checks"] if not check["met"]])
        for row in chosen["candidates"]
        if not row["eligible"]
    ]
    failed = narrative.failures_sentence(failures)
    return sentences + ([failed] if failed else [])


def requirements(runs: Sequence[RunInputs], comparison: dict[str, Any] | None) -> str:
    """The requirements stated for the choice and the rule that chooses among the candidates meeting them."""
    chosen = selection(comparison, runs)
    return (
        f"{narrative.requirements_sentence(chosen['requirements'])} "
        f"{narrative.rule_sentence(chosen['rule'], chosen['credible'])}"
    )


def recommend(runs: Sequence[RunInputs], comparison: dict[str, Any] | None) -> tuple[ModelFacts, str, RunInputs]:
    """The chosen model (requirements first, then the credibly most accurate on validation; row-split runs
    never candidates), the reason with its test estimate, and its run."""
    chosen_name = selection(comparison, runs)["chosen"]
    chosen = next(run for run in runs if run.name == chosen_name)
    reason = " ".join([*choice_sentences(runs, comparison), narrative.test_estimate_sentence(test_facts(chosen))])
    best = next(facts for facts in model_facts([chosen], comparison))
    return best, reason, chosen


def sensitivity(runs: Sequence[RunInputs], comparison: dict[str, Any] | None) -> str:
    """Which weightings of the decision matrix (the stated weights first) would choose another model."""
    matrix, chosen = decision(comparison, runs), selection(comparison, runs)
    labels = {run.name: run.label for run in runs}
    weightings = [
        (
            f"the stated weights ({narrative.weights_text(matrix['weights'])})",
            matrix["winner"],
            matrix["winner_meets_requirements"],
        ),
        *((row["name"], row["winner"], row["winner_meets_requirements"]) for row in matrix["alternatives"]),
    ]
    return narrative.sensitivity_sentence(
        labels[chosen["chosen"]], [(name, labels.get(winner, winner), meets) for name, winner, meets in weightings]
    )


def executive_summary(runs: Sequence[RunInputs], comparison: dict[str, Any] | None) -> list[str]:
    """The decision in four sentences: the model chosen and why (requirements met, validation accuracy,
    credibility), its deployment policy, what the policy buys on test, and which weighting of the criteria
    would choose another model."""
    _, _, chosen = recommend(runs, comparison)
    choice, *_ = choice_sentences(runs, comparison)
    return [choice, *policy_sentences(chosen), sensitivity(runs, comparison)]


def speed_verdict(run: RunInputs) -> str:
    """The bench's verdict against the transformers pipeline, or why there is none."""
    speed = bench_speed(run.bench) or {}
    return speed_target(run) or narrative.no_speed_sentence(
        run.label, speed.get("docs_per_second"), speed.get("peak_memory_mb")
    )


def training_device(run: RunInputs) -> str:
    return "GPU" if str(run.metrics.get("peak_memory_kind", "")).startswith("cuda") else "CPU"


def build_limits(runs: Sequence[RunInputs]) -> str:
    """The models registered in pipeline.modeling.registry that no run of this report trained, and what was trained."""
    trained = {run.label: (training_device(run), run.metrics.get("train_seconds", 0.0)) for run in runs}
    untrained = [name for name in MODELS if name not in {run.model for run in runs}]
    return narrative.limits_sentence(untrained, trained)


def threshold_row(run: RunInputs, threshold: float) -> dict[str, Any]:
    rows = ((run.analysis or {}).get("readiness") or {}).get("thresholds") or []
    return next((row for row in rows if abs(row["threshold"] - threshold) < 1e-9), {})


def recommended_threshold(run: RunInputs) -> dict[str, Any] | None:
    return ((run.analysis or {}).get("readiness") or {}).get("recommended")


def threshold_recommendation(run: RunInputs) -> str:
    recommended = recommended_threshold(run)
    if not recommended:
        return f"No threshold recommendation: run `python -m pipeline analyze --run {run.name}`."
    row = threshold_row(run, recommended["threshold"])
    sentences = [
        narrative.threshold_sentence(
            recommended["threshold"],
            row.get("precision", float("nan")),
            row.get("coverage", float("nan")),
            recommended["rule"],
        )
    ]
    if "automation_rate" in row:
        sentences.append(narrative.automation_sentence(recommended["threshold"], row["automation_rate"]))
    if "documents_auto_coded" in row:
        sentences.append(
            narrative.document_automation_sentence(
                recommended["threshold"], row["documents_auto_coded"], row["document_automation_rate"]
            )
        )
    return " ".join(sentences)


def high_risk_types(run: RunInputs) -> list[str]:
    """The types that always go to review: those of the deployment policy (policy.json, chosen on validation)."""
    return list((run.policy or {}).get("always_review") or [])


SPLIT_WORDING = {
    "document": "a random split by document",
    "predefined": "the corpus's own train/validation/test split",
    "file": "a split read from a split file",
    "rows": "a split by rows",
}


def report_scope(summary: dict[str, Any] | None, version: str, runs: int) -> str:
    """The executive summary's first sentence: version, corpus, runs and which split they share."""
    if summary is None:
        return f"Report version **{version}**, {runs} runs (no data summary: run `python -m pipeline data`)."
    strategy = summary["split"]["strategy"]
    return (
        f"Report version **{version}** on {summary.get('corpus') or summary['source']}: {runs} runs on "
        f"{SPLIT_WORDING.get(strategy, strategy)}, {summary['documents']} documents and {len(summary['types'])} "
        "entity types. Every choice (model, threshold, high-risk types) is made on the validation set; test "
        "numbers are reported once, for what was chosen, and labelled."
    )


def high_value_choice(run: RunInputs) -> str:
    """How the high-value types were chosen (given, the production defaults, or the most frequent)."""
    readiness = (run.analysis or {}).get("readiness") or {}
    return readiness.get("high_value_chosen") or f"Run `python -m pipeline analyze --run {run.name}` to score them."


def deployment_strategy(run: RunInputs) -> str:
    if run.policy is None:
        return f"No strategy without a deployment policy: run `python -m pipeline analyze --run {run.name}`."
    return (
        f"Deploy {run.label} with its deployment policy: `python -m pipeline predict --run {run.name} --input NOTES "
        "--output spans.jsonl --review-brat queue/` marks each span `auto` or `review` with its reason and writes "
        "every note with a span to review to `queue/` as brat standoff, the confidence of each span in an "
        "AnnotatorNotes line, for coders to correct in brat or INCEpTION; the corrected folder reads back as gold "
        "for the next training (`python -m pipeline data --data queue/`). Re-measure the policy on each new batch "
        "of annotated notes before widening automation."
    )


def test_micro(run: RunInputs) -> dict[str, float]:
    """The run's micro-averaged test scores (metrics.json test.micro)."""
    return run.metrics["test"]["micro"]


def truncation_pairs(runs: Sequence[RunInputs]) -> list[tuple[str, float, float]]:
    """(model, sliding-window F1, truncate F1) for every model trained both ways on the document split."""
    by_mode: dict[tuple[str, str], float] = {}
    for run in runs:
        if run.config.get("split_strategy", "document") == "document" and "train" in run.config:
            by_mode[(run.model, run.long_docs)] = test_micro(run)["f1"]
    return [
        (model, by_mode[(model, "window")], by_mode[(model, "truncate")])
        for model, mode in sorted(by_mode)
        if mode == "truncate" and (model, "window") in by_mode
    ]


def findings(runs: Sequence[RunInputs], comparison: dict[str, Any] | None, leak: dict[str, Any] | None) -> str:
    """Key findings as a bullet list: the chosen model, tier gaps, the top confusion, the leak, truncation."""
    _, reason, chosen = recommend(runs, comparison)
    items = [reason]
    for run in runs:
        tiers = tier_f1(run)
        if tiers:
            items.append(narrative.tier_gap_sentence(tiers, run.label))
    confusion = top_confusion(chosen)
    if confusion:
        items.append(narrative.confusion_sentence(*confusion, chosen.label))
    items.append(narrative.leak_sentence(leak))
    if truncation_pairs(runs):
        items.append(narrative.truncation_paragraph(truncation_pairs(runs)))
    return "\n".join(f"- {item}" for item in items)


def top_confusion(run: RunInputs) -> tuple[str, str, float] | None:
    rows = ((run.analysis or {}).get("errors") or {}).get("top_confusions") or []
    if not rows:
        return None
    top = max(rows, key=lambda row: row["count"])
    return top["gold"], top["predicted"], top["share"]


def surprises(runs: Sequence[RunInputs]) -> str:
    """Types that break the frequency rule: a rare type scoring above the median frequent type, and the
    reverse, for each run."""
    items = []
    for run in runs:
        scores, types = run.metrics["test"]["per_type"], run.config.get("types", {})
        by_tier: dict[str, list[tuple[float, str]]] = {}
        for name, values in scores.items():
            by_tier.setdefault(types.get(name, {}).get("tier", "?"), []).append((values["f1"], name))
        if by_tier.get("rare") and by_tier.get("frequent"):
            rare_best, frequent_worst = max(by_tier["rare"]), min(by_tier["frequent"])
            if rare_best[0] > frequent_worst[0]:
                items.append(
                    f"For {run.label}, the rare type {rare_best[1]} (F1 {rare_best[0]:.3f}) beats the "
                    f"frequent type {frequent_worst[1]} (F1 {frequent_worst[0]:.3f})."
                )
    return "\n".join(f"- {item}" for item in items) or "- No type breaks the frequency rule in these runs."


def recommendations(runs: Sequence[RunInputs], comparison: dict[str, Any] | None) -> str:
    best, _, chosen = recommend(runs, comparison)
    items = [f"Take {best.name} (run `{chosen.name}`) to Phase 2.", *policy_sentences(chosen)]
    return "\n".join(f"- {item}" for item in items)


# --- bench.json: every field the pages read beyond the summary goes through `bench_rows` ---------


def bench_rows(run: RunInputs, section: str) -> list[dict[str, Any]]:
    """A list section of bench.json ("variants", "estimate", "windows", "students"); empty when the run was not
    benchmarked (or, for students, benchmarked without any)."""
    bench: dict[str, Any] = dict(run.bench or {})
    return list(bench.get(section) or [])


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Whether each (speed, accuracy) point is on the front: no other point is at least as fast and at least
    as accurate and better in one of the two."""
    return [not any(o[0] >= p[0] and o[1] >= p[1] and o != p for o in points) for p in points]


def speed_accuracy(runs: Sequence[RunInputs], students: bool = False) -> list[dict[str, Any]]:
    """Every benchmarked subject of every run at its fastest batch size: docs/s on the bench's machine
    against validation micro-F1 (the set choices are made on), and whether it is on the front. `students`:
    also the lighter runs timed in the same rounds (a run's own page; the comparison has their own benches)."""
    points = []
    for run in runs:
        timed = [(run.label, row) for row in bench_rows(run, "variants")]
        if students:
            timed += [(s["run"], row) for s in bench_rows(run, "students") for row in s["rows"]]
        best: dict[str, tuple[str, dict[str, Any]]] = {}
        for owner, row in timed:
            if row.get("validation_micro_f1") is None:
                continue
            if row["label"] not in best or row["docs_per_second"] > best[row["label"]][1]["docs_per_second"]:
                best[row["label"]] = owner, row
        points += [
            {
                "run": owner,
                "subject": label,
                "batch_size": row["batch_size"],
                "docs_per_second": row["docs_per_second"],
                "validation_micro_f1": row["validation_micro_f1"],
                "machine": machine_name((run.bench or {}).get("machine")),
            }
            for label, (owner, row) in best.items()
        ]
    front = pareto_front([(p["docs_per_second"], p["validation_micro_f1"]) for p in points])
    return [{**point, "front": on} for point, on in zip(points, front)]


def gpu_pairs(run: RunInputs) -> list[dict[str, Any]]:
    """bench.json's summary.cpu_vs_gpu, read as bench computed it (`pipeline.serving.bench_summary.cpu_vs_gpu`):
    each CPU subject's batch-1 latency beside the fastest GPU subject's, with the slowdown; empty on a
    CPU-only bench or without one."""
    return list(((run.bench or {}).get("summary") or {}).get("cpu_vs_gpu") or [])


def latency_rows(run: RunInputs) -> list[dict[str, Any]]:
    """The CPU-against-GPU table: bench's pairs as they are, under readable column names."""
    return [
        {
            "CPU variant": row["variant"],
            "CPU latency ms (median)": row["cpu_latency_ms"],
            "GPU variant": row["gpu_variant"],
            "GPU latency ms (median)": row["gpu_latency_ms"],
            "slowdown": row["slowdown"],
        }
        for row in gpu_pairs(run)
    ]


def length_hypothesis(run: RunInputs) -> str:
    errors = (run.analysis or {}).get("errors") or {}
    return narrative.length_hypothesis_sentence(run.label, errors.get("boundary_by_length"))


def cpu_gpu(run: RunInputs) -> str:
    """The sentence over the CPU-against-GPU table, or the one that says the GPU rows need a GPU."""
    pairs = gpu_pairs(run)
    device = (run.bench or {}).get("device", "cpu")
    return narrative.cpu_gpu_sentence(len(pairs), device, pairs[0]["gpu_variant"] if pairs else "fp32")
