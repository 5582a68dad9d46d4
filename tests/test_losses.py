"""The training levers (class weights, focal loss, oversampling, a student on fewer layers) on hand-made labels and tiny runs."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from test_train import prepared, tiny_config  # noqa: F401 (the prepared fixture)

from pipeline.core.layout import read_run_config
from pipeline.evaluation.ablation import combined_label, run_label, training_levers
from pipeline.modeling.losses import class_weights, oversample, token_loss
from pipeline.training.train import train_run

LOGITS = torch.tensor([[[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, 1.0, 1.0]]])
LABELS = torch.tensor([[0, 2, -100]])


def test_class_weights_are_damped_inverse_frequencies_averaging_one_over_training_positions():
    weights = class_weights([[0, 0, 0, 0, 0, 0, 0, 0, 1, 1, -100]], n_tags=3)
    assert weights[1] / weights[0] == pytest.approx(2.0)  # 4x rarer: sqrt -> 2x the weight
    assert (8 * weights[0] + 2 * weights[1]) / 10 == pytest.approx(1.0)
    assert weights[2] == weights[1]  # a tag never seen in training gets the largest weight


def test_class_weighted_loss_is_torchs_weighted_cross_entropy_over_labelled_positions():
    loss = token_loss("class-weighted", [1.0, 1.0, 3.0])
    flat, target = LOGITS.reshape(-1, 3), LABELS.reshape(-1)
    expected = F.cross_entropy(flat, target, weight=torch.tensor([1.0, 1.0, 3.0]), reduction="none").sum() / 2
    assert loss({"logits": LOGITS}, LABELS).item() == pytest.approx(expected.item())


def test_focal_loss_with_gamma_zero_is_cross_entropy_and_smaller_with_gamma_two():
    plain = F.cross_entropy(LOGITS.reshape(-1, 3), LABELS.reshape(-1), ignore_index=-100).item()
    assert token_loss("focal", gamma=0.0)({"logits": LOGITS}, LABELS).item() == pytest.approx(plain)
    assert token_loss("focal")({"logits": LOGITS}, LABELS).item() < plain


def test_the_losses_divide_by_the_labelled_positions_of_the_accumulated_batch():
    loss = token_loss("focal", gamma=0.0)
    assert loss({"logits": LOGITS}, LABELS, num_items_in_batch=4).item() == pytest.approx(
        loss({"logits": LOGITS}, LABELS).item() / 2
    )


def test_plain_cross_entropy_leaves_the_models_own_loss():
    assert token_loss("cross-entropy") is None


def test_oversampling_repeats_only_the_windows_holding_a_rare_tag():
    windows = [{"labels": [0, 1, 0]}, {"labels": [0, 3, 4]}, {"labels": [-100, 0]}]
    grown, repeated = oversample(windows, rare_tags={3, 4}, copies=2)
    assert repeated == 1 and grown == [*windows, windows[1], windows[1]]


@pytest.mark.parametrize(
    ("lever", "named"),
    [
        ({"loss": "class-weighted"}, "class-weighted loss"),
        ({"loss": "focal"}, "focal loss"),
        ({"oversample_rare": 2}, "rare-type windows x3"),
        ({"encoder_layers": 1}, "first 1 encoder layers"),
    ],
)
def test_each_lever_trains_a_tiny_model_and_is_recorded_and_named_in_the_ablation(
    prepared,  # noqa: F811
    tiny_model_dir,
    lever,
    named,
):
    run_dir = train_run(tiny_config(prepared, tiny_model_dir, epochs=8, patience=8, **lever))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"] / 2
    assert metrics["validation"]["micro"]["f1"] > 0.5
    config = json.loads((run_dir / "config.json").read_text())["train"]
    assert {key: config[key] for key in lever} == lever
    if lever.get("encoder_layers"):  # a student: named so, and saved with its one layer
        assert "-1layers-" in run_dir.name
        assert json.loads((run_dir / "model" / "config.json").read_text())["num_hidden_layers"] == 1
    assert run_label(read_run_config(run_dir), metrics).endswith(f"), constrained Viterbi, {named}")


def test_a_default_recipe_names_no_lever_and_a_combined_run_names_its_transformers():
    assert training_levers({"loss": "cross-entropy", "oversample_rare": 0}) == ""
    assert training_levers({"loss": "focal", "oversample_rare": 1}) == "focal loss, rare-type windows x2"
    assert combined_label(0.5, 0.0, "viterbi", "focal loss") == (
        "combined: transformer weight 0.5 + CRF, constrained Viterbi, no prior correction; "
        "transformer trained with focal loss"
    )
