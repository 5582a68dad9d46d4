"""Report sentences are computed from the numbers: each expected sentence can be checked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.reporting.narrative import (
    ModelFacts,
    automation_sentence,
    choice_sentence,
    confusion_sentence,
    cpu_gpu_sentence,
    document_automation_sentence,
    failures_sentence,
    leak_sentence,
    length_hypothesis_sentence,
    limits_sentence,
    matrix_note,
    no_curves_sentence,
    no_speed_sentence,
    part_speed_sentence,
    policy_rule_sentence,
    policy_sentence,
    policy_test_sentence,
    requirements_sentence,
    sensitivity_sentence,
    speed_target_sentence,
    threshold_sentence,
    tier_gap_sentence,
    tradeoff_sentence,
    tradeoff_sentences,
    truncation_paragraph,
    truncation_sentence,
)

BIG = ModelFacts("pubmedbert", f1=0.62, f1_low=0.60, f1_high=0.64, docs_per_second=2.0, rare_f1=0.30)
SMALL = ModelFacts("biobert", f1=0.60, f1_low=0.58, f1_high=0.62, docs_per_second=3.0, rare_f1=0.25)
CRF = ModelFacts("crf", f1=0.45, docs_per_second=50.0, rare_f1=0.10)


def test_tradeoff_of_a_better_but_slower_model():
    # +2.0 points (0.62 - 0.60); 3.0 / 2.0 = 1.5 times slower
    assert tradeoff_sentence(BIG, SMALL, 0.97) == (
        "pubmedbert has +2.0 points validation F1 but is 1.5 times slower than biobert (P(pubmedbert>biobert)=0.97, credible)."
    )


def test_tradeoff_of_a_worse_but_faster_model():
    # 0.45 - 0.62 = -17.0 points; 50 / 2 = 25 times faster
    assert tradeoff_sentence(CRF, BIG, 0.0) == (
        "crf has -17.0 points validation F1 but is 25.0 times faster than pubmedbert (P(crf>pubmedbert)=0.00, not credible)."
    )


def test_tradeoff_without_speed_or_significance():
    assert tradeoff_sentence(ModelFacts("a", 0.5), ModelFacts("b", 0.4), None) == (
        "a has +10.0 points validation F1 over b; speed was not measured for both."
    )


def test_tier_gap_in_points():
    assert tier_gap_sentence({"frequent": 0.57, "medium": 0.5, "rare": 0.42}, "minilm") == (
        "For minilm, rare entity types have 15.0 points lower F1 than frequent ones (0.420 vs 0.570)."
    )


def test_tier_gap_without_a_rare_tier_says_so():
    assert "needs both tiers" in tier_gap_sentence({"frequent": 0.57}, "minilm")


def test_confusion_share_as_percent():
    assert confusion_sentence("Medication", "Disease_disorder", 0.08, "minilm") == (
        "For minilm, Medication entities are predicted as Disease_disorder 8% of the time."
    )


def test_threshold_and_automation_sentences():
    assert threshold_sentence(0.85, 0.90, 0.73, "highest coverage with precision ≥ 90%") == (
        "Use a 0.85 confidence threshold for 90% precision and 73% coverage "
        "(rule: highest coverage with precision ≥ 90%)."
    )
    assert automation_sentence(0.85, 0.62) == (
        "At a 0.85 threshold, 62% of predicted entities are coded automatically and 38% go to human review."
    )


def test_document_automation_says_when_no_document_clears_the_threshold():
    assert document_automation_sentence(0.95, 0, 0.0) == (
        "No document can be coded without review at 0.95: every one holds at least one entity below the threshold, "
        "so automation works entity by entity, with a coder checking the flagged ones."
    )
    assert document_automation_sentence(0.5, 3, 0.1) == (
        "10% of documents (3 documents) have every entity at or above 0.50 and could be coded without review."
    )


LEAK = {
    "model": "crf",
    "rows": {
        "run": "crf-2",
        "test_rows": 30,
        "leaked_rows": 26,
        "leaked_share": 26 / 30,
        "micro_f1": 0.712,
        "micro_f1_ci": [0.68, 0.74],
    },
    "document": {"run": "crf-1", "test_documents": 30, "micro_f1": 0.584, "micro_f1_ci": [0.544, 0.619]},
    "inflation": {"points": 12.8, "ci": [8.04, 17.51]},
    "note": "Identical copies overstate the leak slightly.",
}


def test_the_leak_sentence_states_the_leaked_rows_both_scores_and_the_inflation():
    assert leak_sentence(LEAK) == (
        "On the Hugging Face set rebuilt from the brat copy (every document twice), the plan's row split puts a "
        "copy of 26 of its 30 test rows (87%) in training. With the same recipe, crf scores test micro-F1 0.712 "
        "[0.680, 0.740] on that split against 0.584 [0.544, 0.619] on our document split: the row split inflates "
        "F1 by +12.8 points (95% interval +8.0 to +17.5). Identical copies overstate the leak slightly."
    )


def test_an_unmeasured_leak_says_what_measures_it():
    assert leak_sentence(None).startswith("The leak of a row split was not measured: `python -m pipeline all`")


def test_truncation_cost():
    assert truncation_sentence(0.60, 0.55, "minilm", 0.12) == (
        "Cutting documents at 512 wordpieces gives minilm F1 0.550 against 0.600 with sliding windows "
        "(-5.0 points; the cut drops 12% of the test entities)."
    )


def test_truncation_paragraph_says_what_is_missing():
    assert truncation_paragraph([]).startswith("No model was trained both")


def test_tradeoff_sentences_compare_the_best_model_with_each_other_model():
    sentences = tradeoff_sentences(BIG, [BIG, SMALL, CRF], {("pubmedbert", "biobert"): 0.97})
    assert len(sentences) == 2
    assert (
        sentences[1] == "pubmedbert has +17.0 points validation F1 but is 25.0 times slower than crf."
    )  # no P for this pair


def test_a_single_model_has_no_tradeoff():
    assert tradeoff_sentences(CRF, [CRF], {}) == ["crf is the only model compared: there is no trade-off to weigh."]


def test_speed_target_missed_by_the_fastest_variant_that_keeps_f1():
    assert speed_target_sentence("onnx-int8", 1.76, 2.0, True, 8.66, 0.5, 23, 60, 0.5) == (
        "The fastest variant within 0.5 F1 points of fp32 and of the plain transformers pipeline, onnx-int8, reads "
        "1.76 times the pipeline's documents per second (8.7 documents/s, F1 0.500): the 2x target is not met. "
        "The pipeline reads at most 512 wordpieces, so it cut 23 of 60 documents short; every variant here reads every word."
    )


def test_speed_target_is_not_met_by_a_fast_variant_that_loses_f1():
    assert speed_target_sentence("int8", 2.5, 2.0, False, 10.0, 0.6, 0, 30, 0.5) == (
        "No variant stays within 0.5 F1 points of fp32 and of the plain transformers pipeline; the fastest, int8, "
        "reads 2.50 times the pipeline's documents per second (10.0 documents/s, F1 0.600): the 2x target is not met."
    )


def test_speed_target_of_a_truncated_run_says_it_cuts_documents_as_the_pipeline_does():
    sentence = speed_target_sentence("onnx-int8", 2.55, 2.0, True, 7.4, 0.47, 23, 60, 0.5, reads_every_word=False)
    assert sentence.endswith(
        "the 2x target is met. The pipeline reads at most 512 wordpieces, so it cut 23 of 60 "
        "documents short; so does this run, which reads only the first window of each document."
    )


def test_a_combined_models_speed_beside_its_transformer_part_alone():
    part = {
        "run": "minilm-x",
        "combined_label": "bf16 256/16",
        "ratio": {"median": 0.9123, "min": 0.88, "max": 0.95},
        "target_ratio": 0.85,
        "target_met": True,
    }
    assert part_speed_sentence(part, 3) == (
        "Timed in the same rounds as its transformer part alone (minilm-x, bf16 256/16), the combined model reads "
        "0.91 times its documents per second (from 0.88 to 0.95 over 3 interleaved rounds, each at its best batch "
        "size): the target of at least 0.85x is met."
    )
    assert part_speed_sentence({**part, "target_met": False}, 3).endswith("the target of at least 0.85x is not met.")


def test_the_model_page_gives_a_combined_runs_speed_beside_its_part_even_without_the_reference():
    from pipeline.reporting import facts
    from pipeline.reporting.inputs import RunInputs

    part = {"run": "minilm-x", "combined_label": "fp32", "ratio": {"median": 0.8, "min": 0.7, "max": 0.9}}
    bench = {
        "config": {"rounds": 5},
        "reference": None,
        "transformer_part": {**part, "target_ratio": 0.85, "target_met": False},
    }
    run = RunInputs("combined-x", Path("combined-x"), {"model": "combined"}, {}, None, bench)
    assert facts.speed_target(run) == part_speed_sentence(bench["transformer_part"], 5)
    assert "0.80 times its documents per second (from 0.70 to 0.90 over 5 interleaved rounds" in facts.speed_target(run)


def validation_runs():
    from pipeline.reporting.inputs import RunInputs

    def run(name: str, validation: float, test: float) -> RunInputs:
        metrics = {part: {"micro": {"f1": f1}} for part, f1 in (("validation", validation), ("test", test))}
        return RunInputs(name, Path(name), {"model": name}, metrics, None, None)

    return [run("steady", 0.70, 0.55), run("lucky", 0.60, 0.65)]


def comparison_of(weights: str, p_steady_better: float = 0.97) -> dict:
    """compare's selection and decision matrix for two runs: steady (validation 0.70, 3 docs/s, 800 MB) and
    lucky (0.60, 6 docs/s, 600 MB), with the paired bootstrap's P(steady > lucky) on validation."""
    from pipeline.config import CompareConfig, parse_weights
    from pipeline.evaluation.compare import decision_matrix
    from pipeline.evaluation.selection import against_choice, requirements, select

    def row(run: str, f1: float, bounds: list[float], rare: float, speed: float, memory: float) -> dict:
        bench = {"label": "int8", "batch_size": 8, "docs_per_second": speed, "peak_memory_mb": memory}
        return {
            "run": run,
            "selection": {"micro": {"f1": f1, "precision": f1}, "micro_f1_ci": bounds, "rare_f1": rare},
            "speed": bench,
        }

    models = [row("steady", 0.70, [0.66, 0.74], 0.20, 3.0, 800.0), row("lucky", 0.60, [0.55, 0.65], 0.40, 6.0, 600.0)]
    pairs = [{"a": "steady", "b": "lucky", "p_a_better": p_steady_better, "p_b_better": 1 - p_steady_better}]
    chosen = select(models, pairs, requirements(CompareConfig()), 0.95)
    matrix = against_choice(decision_matrix(models, parse_weights(weights), "validation"), chosen)
    return {"models": models, "selection": chosen, "decision": matrix}


def test_the_model_chosen_on_validation_stays_chosen_when_another_scores_higher_on_test():
    from pipeline.reporting.facts import recommend

    runs = validation_runs()
    best, reason, chosen = recommend(runs, comparison_of("f1=0.8,rare=0.2"))
    assert (best.name, chosen.name) == ("steady", "steady")
    assert reason == (
        "steady is chosen: it has the highest validation micro-F1 of the candidates that meet every requirement, "
        "0.700 [0.660, 0.740], credibly above lucky (0.600, P(steady>lucky)=0.97) on validation (credible from "
        "0.95). On the test set, held out from every choice, steady scores micro-F1 0.550: the final, unbiased "
        "estimate."
    )


def test_the_executive_summary_gives_the_choice_the_missing_policy_and_the_weights_that_would_change_it():
    from pipeline.reporting.facts import executive_summary

    # speed 0.5: lucky 0.5 * 0.6/0.7 + 0.5 * 1 = 0.929 against steady 0.5 + 0.5 * 3/6 = 0.75
    summary = executive_summary(validation_runs(), comparison_of("f1=0.5,speed=0.5", p_steady_better=0.8))
    assert summary == [
        "lucky is chosen: steady has the highest validation micro-F1 of the candidates that meet every requirement, "
        "0.700 [0.660, 0.740], but it is not credibly above lucky (0.600, P(steady>lucky)=0.80) at the 0.95 level "
        "on validation, so the cheaper wins: lucky reads 6.0 documents/s against steady 3.0 documents/s.",
        "lucky has no deployment policy yet: run `python -m pipeline analyze --run lucky`.",
        "It has no test result without one.",
        # F1 only and rare-tier F1 only: steady has the higher F1, lucky the higher rare-tier F1
        "Sensitivity: the choice differs from the weighted decision matrix's where F1 only would choose steady; "
        "the stated weights (F1 0.5, speed 0.5), speed only, rare-tier F1 only, memory only and an equal weighting "
        "choose lucky too.",
    ]


def test_without_a_selection_the_recommendation_names_the_command():
    from pipeline.core.errors import MissingInputError
    from pipeline.reporting.facts import recommend

    with pytest.raises(MissingInputError, match=r"no model selection .*python -m pipeline compare steady lucky"):
        recommend(validation_runs(), {"models": []})


def test_when_no_run_meets_the_requirements_the_report_says_what_each_failed():
    from pipeline.core.errors import MissingInputError
    from pipeline.reporting.facts import recommend

    comparison = comparison_of("f1=1")
    comparison["selection"] |= {"chosen": None, "basis": "none_eligible", "not_benchmarked": ["crf"]}
    comparison["selection"]["failed"] = [
        {"run": "steady", "requirement": "memory", "value": 5000.0, "limit": 4096.0, "note": None},
        {"run": "crf", "requirement": "throughput", "value": None, "limit": 0.35, "note": "not benchmarked"},
    ]
    with pytest.raises(MissingInputError) as error:
        recommend(validation_runs(), comparison)
    assert str(error.value).startswith(
        "no compared run meets every deployment requirement, so no model is chosen (steady: peak inference memory "
        "5,000 MB, over the 4,096 MB allowed); not benchmarked: crf (`python -m pipeline bench --run <run>`)"
    )


def test_the_only_eligible_candidate_is_chosen_as_such():
    assert choice_sentence("crf", "only_eligible", CRF, [], 0.95) == (
        "crf is chosen: it is the only candidate that meets every requirement (validation micro-F1 0.450)."
    )


def test_the_most_accurate_not_credibly_better_but_also_the_fastest_is_chosen_and_the_page_says_both():
    assert choice_sentence("crf", "fastest_of_tied", CRF, [(SMALL, None, False)], 0.95) == (
        "crf is chosen: it has the highest validation micro-F1 of the candidates that meet every requirement, "
        "0.450, not credibly above biobert (0.600, no paired test: their validation documents differ) at the 0.95 "
        "level on validation, and none of them is faster (50.0 documents/s against biobert 3.0 documents/s)."
    )


def test_failures_name_the_requirement_the_value_and_the_limit_and_the_bench_a_run_lacks():
    failures = [
        ("pubmedbert", "pubmedbert-1", [{"requirement": "memory", "value": 6144.0, "limit": 4096.0, "note": None}]),
        (
            "crf",
            "crf-1",
            [
                {"requirement": "throughput", "value": None, "limit": 0.347, "note": "not benchmarked"},
                {"requirement": "memory", "value": None, "limit": 4096.0, "note": "not benchmarked"},
                {"requirement": "precision", "value": 0.8, "limit": 0.9, "note": None},
            ],
        ),
    ]
    assert failures_sentence(failures) == (
        "Not eligible: pubmedbert (peak inference memory 6,144 MB, over the 4,096 MB allowed); crf (not "
        "benchmarked, so it cannot show it meets the throughput and memory requirements: `python -m pipeline bench "
        "--run crf-1` measures them; validation micro precision 0.800, under the 0.90 required)."
    )
    assert failures_sentence([]) == ""


def test_requirements_are_stated_with_their_limits_and_flags():
    from pipeline.config import CompareConfig
    from pipeline.evaluation.selection import requirements

    assert requirements_sentence(requirements(CompareConfig(min_precision=0.9))) == (
        "Requirements: at least 0.347 documents/s (10,000 notes within 8 hours on the machine that ran bench, with "
        "the variant bench chose), peak inference memory of that variant at most 4,096 MB and validation micro "
        "precision at least 0.90 (stated with `python -m pipeline compare --throughput-notes N --throughput-hours H "
        "--max-memory-mb MB --min-precision P`, 0 turning one off)."
    )
    assert requirements_sentence([]).startswith("No deployment requirement is stated")


def test_a_weighting_that_never_changes_the_choice_says_so():
    assert sensitivity_sentence("minilm", [("F1 only", "minilm", True), ("speed only", "minilm", True)]) == (
        "Sensitivity: every weighting of the decision matrix tried (F1 only and speed only) also chooses minilm: the "
        "choice does not hang on how the criteria are weighed."
    )
    assert sensitivity_sentence("minilm", [("speed only", "crf", False)]) == (
        "Sensitivity: the choice differs from the weighted decision matrix's where speed only would choose crf "
        "(which fails a requirement)."
    )


def test_matrix_note_states_that_it_is_a_sensitivity_view_with_normalisation_weights_and_the_flag():
    assert matrix_note("share of the best", {"f1": 0.4, "speed": 0.3, "rare": 0.2, "memory": 0.1}) == (
        "A sensitivity view, not the rule: scores are share of the best; the total is the weighted mean of the "
        "scores. Weights: F1 0.4, speed 0.3, rare-tier F1 0.2, memory 0.1 (set them with `python -m pipeline "
        "compare --criteria-weights f1=..,speed=..,rare=..,memory=..`)."
    )


def test_the_policy_sentence_counts_the_types_auto_coded_and_names_those_always_reviewed():
    assert policy_sentence("minilm", 41, 12, 9, ["Area", "History"]) == (
        "The deployment policy of minilm, chosen on validation, codes the spans of 21 of its 41 entity types "
        "automatically when their confidence reaches the type's threshold (12 at a threshold of their own and 9 "
        "low-support types at one pooled threshold), and always sends Area and History to a coder (the 2 types "
        "reaching the precision target at no threshold)."
    )
    seven = [f"T{i}" for i in range(7)]
    assert policy_sentence("crf", 7, 0, 0, seven).endswith(
        "codes none of its 7 entity types automatically, and always sends T0, T1, T2, T3, T4 and 2 more to a coder "
        "(the 7 types reaching the precision target at no threshold)."
    )


def test_the_policy_test_sentence_sets_the_test_result_beside_the_validation_estimate():
    test = {"predicted": 50, "auto_coded": 30, "automation_rate": 0.6, "precision": 0.93333, "review_spans": 20000.0}
    validation = {"predicted": 40, "auto_coded": 20, "automation_rate": 0.5, "precision": 0.95}
    assert policy_test_sentence({**test, "coder_hours": 166.667}, validation, 10000, 30.0) == (
        "On test it codes 60% of the predicted entities automatically, at precision 0.933 (validation estimate: 50% "
        "at precision 0.950), and leaves 20,000 spans to review for 10,000 notes: about 167 coder hours at 30 s a span."
    )
    nothing = {"predicted": 5, "auto_coded": 0, "automation_rate": 0.0, "precision": None}
    assert policy_test_sentence({**nothing, "review_spans": 500.0, "coder_hours": 4.2}, nothing, 100, 30).startswith(
        "On test it codes 0% of the predicted entities automatically (validation estimate: 0%), and leaves 500 spans"
    )


def test_the_policy_rule_states_its_settings():
    assert policy_rule_sentence(0.9, 20, [0.5, 0.9, 0.95], 3, None, 10000, 30.0) == (
        "Each entity type's threshold is the lowest of 0.5, 0.9, 0.95 at which at least 20 of its validation "
        "predictions lie at or above it with precision 0.90 or more; the 3 types with fewer than 20 validation "
        "predictions would share a threshold chosen the same way on their pooled predictions, but none reaches the "
        "target: they are always reviewed; a type reaching the target at no threshold is always reviewed. Unlike one "
        "threshold for every type, which can reach the target on average while some types fall short of it, every "
        "type auto-coded reaches it on its own (on validation; the test column shows how far that holds). `predict` "
        "applies this policy by default. Review load: the spans sent to a coder per note, for 10,000 notes, at 30 s "
        "a span."
    )


def test_a_model_without_a_pipeline_counterpart_states_its_own_measured_speed():
    assert no_speed_sentence("crf", 23.1668, 498.0) == (
        "crf reads 23.2 documents/s on this machine in 498 MB; the transformers pipeline is a transformer and has "
        "no counterpart for it, so no ratio is given."
    )
    assert (
        no_speed_sentence("crf") == "crf was not benchmarked: run `python -m pipeline bench --run crf` for its speed."
    )


def test_limits_name_the_untrained_registered_models_and_what_was_trained_where():
    sentence = limits_sentence(["pubmedbert", "biobert"], {"minilm": ("CPU", 1428.1), "crf": ("CPU", 92.4)})
    assert sentence == (
        "This build trained minilm (CPU, 24 min) and crf (CPU, 2 min). The registered pubmedbert and biobert were "
        "not trained here: they load from the Hugging Face hub and the gpu profile (`--profile gpu`) trains them, "
        "while this build ran offline on CPU with the MiniLM that ships as a Python package; their rows of the "
        "plan's comparison are still open."
    )
    assert limits_sentence([], {"pubmedbert": ("GPU", 600.0)}) == "This build trained pubmedbert (GPU, 10 min)."


def boundary(short: tuple[int, int], long: tuple[int, int], z: float, p_value: float, ci: list[float]) -> dict:
    """analysis.json errors.boundary_by_length with a 1-word and a 5+-word bucket: (errors, gold) each."""
    buckets = [
        {"length": name, "gold": gold, "boundary_errors": errors, "rate": errors / gold, "ci": [0.0, 1.0]}
        for name, (errors, gold) in (("1", short), ("5+", long))
    ]
    difference = {"longer": "5+", "shorter": "1", "difference": long[0] / long[1] - short[0] / short[1], "ci": ci}
    return {"buckets": buckets, "trend": {"z": z, "p_value": p_value, "buckets": ["1", "5+"]}, "difference": difference}


def test_length_hypothesis_supported_by_a_rising_credible_trend():
    # the fixture of test_errors: 1 of 10 one-word and 6 of 10 five-word spans, z = 2.344, p = 0.019
    sentence = length_hypothesis_sentence("minilm", boundary((1, 10), (6, 10), 2.344, 0.0191, [0.0816, 0.746]))
    assert sentence == (
        "For minilm, 60% of 5+-word gold entities (6 of 10) get a boundary error against 10% of 1-word ones "
        "(1 of 10), a difference of +50.0 points (95% interval +8.2 to +74.6); the trend test over the lengths "
        "gives z = 2.34, p = 0.019: the data supports the hypothesis that longer entities get more boundary errors."
    )


def test_length_hypothesis_not_supported_without_a_credible_trend():
    # 3 of 10 against 4 of 10: z = 0.46, p = 0.64
    sentence = length_hypothesis_sentence("crf", boundary((3, 10), (4, 10), 0.4629, 0.6434, [-0.29, 0.45]))
    assert "a difference of +10.0 points (95% interval -29.0 to +45.0)" in sentence
    assert sentence.endswith(
        "p = 0.643: the data does not support the hypothesis that longer entities get more boundary errors "
        "(no credible trend)."
    )


def test_length_hypothesis_contradicted_by_a_falling_credible_trend():
    sentence = length_hypothesis_sentence("crf", boundary((60, 100), (10, 100), -7.3, 2e-13, [-0.6, -0.38]))
    assert "a difference of -50.0 points" in sentence
    assert sentence.endswith(
        "p < 0.001: the data contradicts the hypothesis that longer entities get more boundary errors: shorter ones get more."
    )


def test_length_hypothesis_untested_without_the_measurement():
    assert "cannot be tested" in length_hypothesis_sentence("crf", None)


def test_runs_without_epochs_say_they_have_no_curve():
    assert no_curves_sentence("crf") == (
        "crf records no epochs (its metrics.json `epochs` is empty: it is fitted in one call), so it has no curve."
    )


def test_cpu_gpu_sentence_names_the_pairs_or_the_missing_gpu():
    assert cpu_gpu_sentence(0, "cpu").startswith("This benchmark ran on cpu only: the GPU rows")
    assert cpu_gpu_sentence(2, "NVIDIA H200", "fp16") == (
        "CPU beside NVIDIA H200: the slowdown factor of each row is its batch-1 latency over that of fp16 on the GPU "
        "(2 CPU rows)."
    )


POLICY = {
    "settings": {"notes": 10000, "seconds_per_span": 30.0},
    "types": {
        "A": {"threshold": 0.9, "source": "type"},
        "B": {"threshold": 0.8, "source": "pooled"},
        "C": {"threshold": 0.8, "source": "pooled"},
        "D": {"threshold": None, "source": "type"},
    },
    "always_review": ["D"],
    "validation": {"predicted": 40, "auto_coded": 20, "automation_rate": 0.5, "precision": 0.95},
}
POLICY_ON_TEST = {
    "predicted": 50,
    "auto_coded": 30,
    "automation_rate": 0.6,
    "precision": 0.93333,
    "review_spans": 20000.0,
    "coder_hours": 166.667,
}


def chosen_with_policy() -> tuple[list, dict]:
    """The validation runs, the chosen one (steady) with a deployment policy, and their comparison."""
    import dataclasses

    steady, lucky = validation_runs()
    steady = dataclasses.replace(steady, policy=POLICY, analysis={"policy": POLICY_ON_TEST})
    return [steady, lucky], {**comparison_of("f1=0.8,rare=0.2"), "best": {"overall": "steady"}}


def test_the_executive_summary_says_the_choice_the_policy_what_it_buys_and_what_would_change_it():
    from pipeline.reporting.facts import executive_summary

    runs, comparison = chosen_with_policy()
    choice, policy, on_test, change = executive_summary(runs, comparison)
    assert choice == (
        "steady is chosen: it has the highest validation micro-F1 of the candidates that meet every requirement, "
        "0.700 [0.660, 0.740], credibly above lucky (0.600, P(steady>lucky)=0.97) on validation (credible from 0.95)."
    )
    assert policy == (
        "The deployment policy of steady, chosen on validation, codes the spans of 3 of its 4 entity types "
        "automatically when their confidence reaches the type's threshold (1 at a threshold of its own and 2 "
        "low-support types at one pooled threshold), and always sends D to a coder (the 1 type reaching the precision "
        "target at no threshold)."
    )
    assert on_test.startswith("On test it codes 60% of the predicted entities automatically, at precision 0.933")
    assert change.startswith(
        "Sensitivity: the choice differs from the weighted decision matrix's where speed only would choose"
    )


def test_a_chosen_run_missing_from_the_report_names_the_command():
    from pipeline.core.errors import MissingInputError
    from pipeline.reporting.facts import executive_summary

    runs, comparison = chosen_with_policy()
    comparison["selection"] = {**comparison["selection"], "chosen": "gone"}
    with pytest.raises(MissingInputError, match=r"chosen model gone is not among the report's runs.*compare steady"):
        executive_summary(runs, comparison)
