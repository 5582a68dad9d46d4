"""Inference variants: every backend plugs into the same windowing/decoding and agrees with fp32."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.layout import read_predictions
from pipeline.modeling.backends import load_inference
from pipeline.modeling.features import encode_documents
from pipeline.modeling.tagging import batched_probabilities


@pytest.fixture(scope="module")
def documents(tiny_run):
    return [row["words"] for row in read_predictions(tiny_run, "test")]


def probabilities(model, documents, batch_size=32):
    windows = encode_documents(model.tokenizer, documents, model.max_length, model.stride)
    return batched_probabilities(model.forward, windows, batch_size, model.tokenizer.pad_token_id)


def test_fp32_windows_and_batching_do_not_change_the_output(tiny_run, documents):
    model = load_inference(tiny_run, "fp32", "cpu")
    one_by_one, batched = probabilities(model, documents, 1), probabilities(model, documents, 32)
    assert len(one_by_one) > len(documents)  # 24-wordpiece windows: several per document
    for a, b in zip(one_by_one, batched):
        np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(a.sum(axis=-1), 1.0, atol=1e-5)


def test_onnx_runtime_matches_torch_fp32(tiny_run, documents):
    reference = probabilities(load_inference(tiny_run, "fp32", "cpu"), documents)
    onnx = probabilities(load_inference(tiny_run, "onnx"), documents)
    for a, b in zip(reference, onnx):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_onnx_graphs_are_exported_once_and_reused(tiny_run):
    load_inference(tiny_run, "onnx-int8")
    folder = tiny_run / "model" / "onnx"
    stamps = {path.name: path.stat().st_mtime_ns for path in folder.glob("*.onnx")}
    assert set(stamps) == {"model.onnx", "model.int8.onnx"}
    load_inference(tiny_run, "onnx-int8")
    assert {path.name: path.stat().st_mtime_ns for path in folder.glob("*.onnx")} == stamps


@pytest.mark.parametrize("variant, tolerance", [("int8", 0.1), ("onnx-int8", 0.1), ("bf16", 0.05), ("fp16", 0.01)])
def test_reduced_precision_variants_stay_close_to_fp32(tiny_run, documents, variant, tolerance):
    reference = probabilities(load_inference(tiny_run, "fp32", "cpu"), documents)
    reduced = probabilities(load_inference(tiny_run, variant, "cpu"), documents)
    largest = max(float(np.abs(a - b).max()) for a, b in zip(reference, reduced))
    assert 0 < largest < tolerance  # changed (the variant did something) but only slightly


def test_onnx_graph_runs_onnx_runtimes_fused_attention_and_per_channel_int8(tiny_run):
    import onnx

    load_inference(tiny_run, "onnx-int8")
    folder = tiny_run / "model" / "onnx"
    fused = {node.op_type for node in onnx.load(folder / "model.onnx").graph.node}
    assert {"Attention", "SkipLayerNormalization", "BiasGelu"} <= fused
    int8 = onnx.load(folder / "model.int8.onnx").graph
    shapes = {init.name: list(init.dims) for init in int8.initializer}
    weights = [node.input[1] for node in int8.node if node.op_type in ("MatMulInteger", "QAttention")]
    assert len(weights) == 4 * 2 + 1  # per layer: fused q/k/v, attention output, two feed-forward; the classifier
    for weight in weights:  # one scale per output channel
        assert shapes[weight.removesuffix("_quantized") + "_scale"] == shapes[weight][1:]


def test_graphs_of_an_older_export_recipe_are_exported_again(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, ignore=shutil.ignore_patterns("onnx"))
    (run / "model" / "onnx").mkdir()
    (run / "model" / "onnx" / "model.onnx").write_bytes(b"an older recipe's graph")  # no export.json
    assert load_inference(run, "onnx").predict([["chest", "pain"]])[0][0]
    assert (run / "model" / "onnx" / "export.json").exists()


def test_int8_replaces_every_linear_layer_with_per_channel_weights(tiny_run):
    import torch

    from pipeline.modeling.backends import torch_variant
    from pipeline.modeling.tagging import load_run_model

    model = torch_variant(load_run_model(tiny_run, "cpu")[0], "int8")
    kinds = {type(module) for module in model.modules()}
    assert torch.nn.Linear not in kinds
    quantized = [m for m in model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    assert quantized and all(m.weight().qscheme() == torch.per_channel_affine for m in quantized)


def test_predict_decodes_every_word_with_any_variant(tiny_run, documents):
    results = load_inference(tiny_run, "onnx-int8").predict(documents)
    assert [len(tags) for tags, _ in results] == [len(words) for words in documents]
    assert all(0 < c <= 1 for _, confidence in results for c in confidence)


@pytest.mark.parametrize("variant, device", [("tf32", "cpu"), ("int8", "cuda"), ("onnx", "cuda:0")])
def test_unknown_variant_or_cpu_only_variant_on_gpu_is_refused(tiny_run, variant, device):
    with pytest.raises(ValueError, match=variant):
        load_inference(tiny_run, variant, device)
