"""Report sentences are computed from the numbers: each expected sentence can be checked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.reporting.narrative import (
    ModelFacts,
    automation_sentence,
    confusion_sentence,
    cpu_gpu_sentence,
    decision_sentence,
    document_automation_sentence,
    leak_sentence,
    length_hypothesis_sentence,
    limits_sentence,
    matrix_note,
    no_curves_sentence,
    no_speed_sentence,
    policy_rule_sentence,
    policy_sentence,
    policy_test_sentence,
    speed_target_sentence,
    threshold_sentence,
    tier_gap_sentence,
    tradeoff_sentence,
    tradeoff_sentences,
    truncation_paragraph,
    truncation_sentence,
    weighting_sentence,
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


def validation_runs():
    from pipeline.reporting.inputs import RunInputs

    def run(name: str, validation: float, test: float) -> RunInputs:
        metrics = {part: {"micro": {"f1": f1}} for part, f1 in (("validation", validation), ("test", test))}
        return RunInputs(name, Path(name), {"model": name}, metrics, None, None)

    return [run("steady", 0.70, 0.55), run("lucky", 0.60, 0.65)]


def comparison_of(weights: str) -> dict:
    from pipeline.config import parse_weights
    from pipeline.evaluation.compare import decision_matrix

    models = [
        {"run": "steady", "selection": {"micro": {"f1": 0.70}, "micro_f1_ci": [0.66, 0.74], "rare_f1": 0.20}},
        {"run": "lucky", "selection": {"micro": {"f1": 0.60}, "micro_f1_ci": [0.55, 0.65], "rare_f1": 0.40}},
    ]
    return {"models": models, "decision": decision_matrix(models, parse_weights(weights), "validation")}


def test_the_model_chosen_on_validation_stays_chosen_when_another_scores_higher_on_test():
    from pipeline.reporting.facts import recommend, weighting

    runs = validation_runs()
    best, reason, chosen = recommend(runs, comparison_of("f1=0.8,rare=0.2"))
    # steady: 0.8 * 1 + 0.2 * (0.20 / 0.40) = 0.9; lucky: 0.8 * (0.60 / 0.70) + 0.2 * 1 = 0.8857
    assert (best.name, chosen.name) == ("steady", "steady")
    assert reason == (
        "steady has the highest weighted total of the decision matrix, 0.900 against 0.886 for lucky, the next "
        "(weights F1 0.8, rare-tier F1 0.2; each criterion read on validation or from the benchmark, as a share of "
        "the best run). Not measured, so scored 0: speed and memory of steady; speed and memory of lucky. On the "
        "test set, held out from every choice, steady scores micro-F1 0.550: the final, unbiased estimate."
    )
    assert weighting(runs, comparison_of("f1=0.8,rare=0.2")) == (
        # an equal weighting: lucky (0.857 + 0 + 1 + 0) / 4 = 0.464 against steady (1 + 0 + 0.5 + 0) / 4 = 0.375;
        # speed and memory alone are not tried: neither run measured them
        "The weights matter: rare-tier F1 only chooses lucky and an equal weighting chooses lucky; F1 only chooses "
        "steady too."
    )


def test_without_a_decision_matrix_the_recommendation_names_the_command():
    from pipeline.core.errors import MissingInputError
    from pipeline.reporting.facts import recommend

    with pytest.raises(MissingInputError, match="python -m pipeline compare steady lucky"):
        recommend(validation_runs(), {"models": []})


def test_decision_sentence_of_a_single_candidate():
    assert decision_sentence("crf", {"crf": 0.6}, {"f1": 1.0, "speed": 0.0, "rare": 0.0, "memory": 0.0}, {}) == (
        "crf has the highest weighted total of the decision matrix, 0.600, the only candidate (weights F1 1; each "
        "criterion read on validation or from the benchmark, as a share of the best run)."
    )


def test_a_weighting_that_never_changes_the_winner_says_so():
    assert weighting_sentence("minilm", [("F1 only", "minilm"), ("speed only", "minilm")]) == (
        "Every other weighting tried (F1 only and speed only) also chooses minilm: the recommendation does not hang "
        "on the weights."
    )


def test_matrix_note_states_normalisation_weights_and_the_flag():
    assert matrix_note("share of the best", {"f1": 0.4, "speed": 0.3, "rare": 0.2, "memory": 0.1}) == (
        "Scores: share of the best; the total is the weighted mean of the scores. Weights: F1 0.4, speed 0.3, "
        "rare-tier F1 0.2, memory 0.1 (set them with `python -m pipeline compare --weights "
        "f1=..,speed=..,rare=..,memory=..`)."
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
    assert choice.startswith(
        "steady is the model chosen on validation (micro-F1 0.700 [0.660, 0.740]): steady has the highest weighted "
        "total of the decision matrix, 0.900 against 0.886 for lucky"
    )
    assert policy == (
        "The deployment policy of steady, chosen on validation, codes the spans of 3 of its 4 entity types "
        "automatically when their confidence reaches the type's threshold (1 at a threshold of its own and 2 "
        "low-support types at one pooled threshold), and always sends D to a coder (the 1 type reaching the precision "
        "target at no threshold)."
    )
    assert on_test.startswith("On test it codes 60% of the predicted entities automatically, at precision 0.933")
    assert change.startswith("The weights matter: rare-tier F1 only chooses lucky")


def test_the_executive_summary_reads_the_selection_reason_and_sensitivity_that_compare_states():
    from pipeline.reporting.facts import executive_summary

    runs, comparison = chosen_with_policy()
    comparison["selection"] = {"reason": "it meets every requirement and is the most accurate."}
    comparison["sensitivity"] = {"sentence": "Only a requirement of 2 GB would choose lucky."}
    choice, *_, change = executive_summary(runs, comparison)
    assert choice == (
        "steady is the model chosen on validation (micro-F1 0.700 [0.660, 0.740]): it meets every requirement and is "
        "the most accurate."
    )
    assert change == "Only a requirement of 2 GB would choose lucky."


def test_a_chosen_run_missing_from_the_report_names_the_command():
    from pipeline.core.errors import MissingInputError
    from pipeline.reporting.facts import executive_summary

    runs, comparison = chosen_with_policy()
    with pytest.raises(MissingInputError, match=r"comparison\.json chooses 'gone'.*python -m pipeline compare steady"):
        executive_summary(runs, {**comparison, "best": {"overall": "gone"}})
