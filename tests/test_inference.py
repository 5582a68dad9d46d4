"""Inference variants: every backend plugs into the same windowing/decoding and agrees with fp32."""

from __future__ import annotations

from pathlib import Path

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
    windows = encode_documents(model.tokenizer, documents, model.max_length, model.overlap)
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


# --- openvino-int8: OpenVINO on a static int8 graph calibrated on training windows ----------------


@pytest.fixture(scope="module")
def outputs_run(tmp_path_factory, tiny_run):
    from conftest import run_in_outputs

    return run_in_outputs(tmp_path_factory.mktemp("openvino"), tiny_run)


def test_openvino_int8_predicts_mostly_the_same_tags_as_fp32(outputs_run, documents):
    pytest.importorskip("openvino")
    reference = probabilities(load_inference(outputs_run, "fp32", "cpu"), documents)
    static = probabilities(load_inference(outputs_run, "openvino-int8"), documents)
    same = np.concatenate([a.argmax(-1) == b.argmax(-1) for a, b in zip(reference, static)])
    largest = max(float(np.abs(a - b).max()) for a, b in zip(reference, static))
    assert same.mean() >= 0.9
    assert 0 < largest < 0.1  # int8 changed the numbers, slightly


def test_static_int8_graph_quantizes_the_inputs_of_every_product_and_nothing_else(outputs_run):
    pytest.importorskip("openvino")
    import openvino

    load_inference(outputs_run, "openvino-int8")
    graph = openvino.Core().read_model(outputs_run / "model" / "onnx" / "model.static-int8.xml")
    nodes = graph.get_ordered_ops()

    def source(node, index=0):
        return node.input_value(index).get_node()

    def skip_layout(node):  # the head split between a projection and the attention
        while node.get_type_name() in ("Reshape", "Transpose"):
            node = source(node)
        return node

    matmuls = [node for node in nodes if node.get_type_name() == "MatMul"]
    assert len(matmuls) == 6 * 2 + 1  # tiny BERT, 2 layers: q, k, v, attention output, 2 feed-forward; the classifier
    for matmul in matmuls:  # activations through int8, weights stored as int8
        assert source(matmul, 0).get_type_name() == "FakeQuantize"
        weight = source(source(source(matmul, 1)))  # Multiply (scale) <- Convert <- Constant
        assert weight.get_type_name() == "Constant" and weight.get_element_type().get_type_name() == "i8"
    attention = [node for node in nodes if node.get_type_name() == "ScaledDotProductAttention"]
    assert len(attention) == 2
    for node in attention:  # query x key in int8
        assert [skip_layout(source(node, index)).get_type_name() for index in (0, 1)] == ["FakeQuantize"] * 2
    readers = {
        target.get_node().get_type_name()
        for node in nodes
        if node.get_type_name() == "FakeQuantize"
        for target in node.output(0).get_target_inputs()
    }
    assert readers <= {"MatMul", "Reshape"}  # the residual stream, layer norms and softmax stay fp32


def test_static_int8_graph_is_made_once_and_again_for_another_recipe(outputs_run):
    pytest.importorskip("openvino")
    from pipeline.core.files import write_json

    folder = outputs_run / "model" / "onnx"
    load_inference(outputs_run, "openvino-int8")
    stamp = (folder / "model.static-int8.bin").stat().st_mtime_ns
    load_inference(outputs_run, "openvino-int8")
    assert (folder / "model.static-int8.bin").stat().st_mtime_ns == stamp
    write_json(folder / "static-int8.json", {"calibration": "an older recipe"})
    load_inference(outputs_run, "openvino-int8")
    assert (folder / "model.static-int8.bin").stat().st_mtime_ns != stamp


def test_a_made_static_int8_graph_predicts_without_the_torch_weights(outputs_run, documents, tmp_path):
    pytest.importorskip("openvino")
    import shutil

    expected = probabilities(load_inference(outputs_run, "openvino-int8"), documents)
    run = Path(shutil.copytree(outputs_run, tmp_path / "run"))
    (run / "model" / "model.safetensors").unlink()
    found = probabilities(load_inference(run, "openvino-int8"), documents)
    for a, b in zip(expected, found):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_calibration_reads_only_training_documents(outputs_run):
    from pipeline.data.prepare import load_prepared
    from pipeline.modeling.backends import CALIBRATION_WINDOWS, calibration_windows, training_documents

    model = load_inference(outputs_run, "fp32", "cpu")
    prepared = load_prepared(outputs_run.parents[1])

    def window_ids(documents):
        windows = encode_documents(model.tokenizer, documents, model.max_length, model.overlap)
        return [tuple(window.input_ids) for window in windows]

    windows = calibration_windows(model.tokenizer, training_documents(outputs_run), model.max_length, model.overlap)
    calibration = [tuple(window.input_ids) for window in windows]
    train = window_ids([d.words for d in prepared.parts["train"]])
    held_out = window_ids([d.words for part in ("validation", "test") for d in prepared.parts[part]])
    assert len(train) < CALIBRATION_WINDOWS and sorted(calibration) == sorted(train)  # all 8, in a shuffled order
    assert not set(calibration) & set(held_out)


@pytest.mark.parametrize("package", ["openvino", "nncf"])
def test_a_variant_whose_package_is_missing_is_refused_by_name(outputs_run, monkeypatch, package):
    import sys

    monkeypatch.setitem(sys.modules, package, None)  # what importlib sees when it is not installed
    with pytest.raises(ValueError, match=f"openvino-int8 needs the {package} package"):
        load_inference(outputs_run, "openvino-int8")
