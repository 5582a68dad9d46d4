"""Report sentences are computed from the numbers: each expected sentence can be checked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.reporting.narrative import (
    ModelFacts,
    automation_sentence,
    choose_model,
    confusion_sentence,
    cpu_gpu_sentence,
    document_automation_sentence,
    leak_sentence,
    length_hypothesis_sentence,
    no_curves_sentence,
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


def test_choose_model_keeps_the_top_model_when_it_credibly_beats_the_rest():
    best, reason = choose_model([BIG, SMALL, CRF], {("pubmedbert", "biobert"): 0.97, ("pubmedbert", "crf"): 1.0})
    assert best is BIG
    assert reason == (
        "pubmedbert has the highest validation micro-F1, 0.620 [0.600, 0.640], and credibly beats every "
        "other model (P(better) ≥ 0.95). Its rare-tier F1 on test is 0.300."
    )


def test_choose_model_prefers_the_faster_of_two_models_tied_on_f1():
    best, reason = choose_model([BIG, SMALL, CRF], {("pubmedbert", "biobert"): 0.80, ("pubmedbert", "crf"): 1.0})
    assert best is SMALL  # P=0.80 < 0.95: tied on F1; biobert is faster (3.0 vs 2.0 docs/s); crf is credibly worse
    assert reason.startswith(
        "biobert is the fastest model whose F1, 0.600 [0.580, 0.620], is not credibly below "
        "the best (pubmedbert, 0.620, P(pubmedbert>biobert)=0.80)."
    )


def test_choose_model_needs_a_model():
    with pytest.raises(ValueError, match="no model"):
        choose_model([], {})


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


def test_choose_model_falls_back_to_f1_when_a_tied_model_has_no_speed():
    unbenched = ModelFacts("crf", f1=0.55)  # tied with BIG (P=0.71 < 0.95), speed unknown
    best, reason = choose_model([BIG, unbenched], {("pubmedbert", "crf"): 0.71})
    assert best is BIG
    assert reason == (
        "pubmedbert has the highest validation micro-F1, 0.620 [0.600, 0.640]; it does not credibly beat "
        "crf, and without the speed of all of them the highest F1 decides. Its rare-tier F1 on test is 0.300."
    )


def test_choose_model_keeps_the_top_model_when_it_is_also_the_fastest_of_the_tied():
    slower = ModelFacts("biobert", f1=0.61, docs_per_second=1.0)
    best, reason = choose_model([BIG, slower], {("pubmedbert", "biobert"): 0.6})
    assert best is BIG  # 2.0 docs/s against 1.0
    assert "does not credibly beat biobert, but it is also the fastest of them." in reason


def test_a_single_model_is_chosen_without_claims_about_others():
    best, reason = choose_model([CRF], {})
    assert (best, reason) == (
        CRF,
        "crf is the only model compared; its validation micro-F1 is 0.450. Its rare-tier F1 on test is 0.100.",
    )
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


def test_the_model_chosen_on_validation_stays_chosen_when_another_scores_higher_on_test():
    from pipeline.reporting.facts import recommend
    from pipeline.reporting.inputs import RunInputs

    def run(name: str, validation: float, test: float) -> RunInputs:
        metrics = {part: {"micro": {"f1": f1}} for part, f1 in (("validation", validation), ("test", test))}
        return RunInputs(name, Path(name), {"model": name}, metrics, None, None)

    runs = [run("steady", 0.70, 0.55), run("lucky", 0.60, 0.65)]
    comparison = {
        "models": [
            {"run": "steady", "selection": {"micro": {"f1": 0.70}, "micro_f1_ci": [0.66, 0.74]}},
            {"run": "lucky", "selection": {"micro": {"f1": 0.60}, "micro_f1_ci": [0.55, 0.65]}},
        ],
        "pairwise_selection": [{"a": "steady", "b": "lucky", "p_a_better": 0.99, "p_b_better": 0.01}],
        "pairwise": [{"a": "lucky", "b": "steady", "p_a_better": 0.97, "p_b_better": 0.03}],
    }
    best, reason, chosen = recommend(runs, comparison)
    assert (best.name, chosen.name) == ("steady", "steady")
    assert reason == (
        "steady has the highest validation micro-F1, 0.700 [0.660, 0.740], and credibly beats every other model "
        "(P(better) ≥ 0.95). On the test set, held out from every choice, steady scores micro-F1 0.550: the final, "
        "unbiased estimate."
    )


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
