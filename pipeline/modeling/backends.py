"""A finished run loaded for inference in one of several numeric variants, behind one `Forward`.

    fp32        the trained weights as saved (CPU or GPU)
    fp16, bf16  half precision copies (meant for GPU; bf16 also runs on recent CPUs)
    int8        `torch.ao.quantization.quantize_dynamic` on every Linear layer, per-channel weights (CPU only)
    onnx        ONNX Runtime on the fused fp32 graph (CPU)
    onnx-int8   ONNX Runtime on `onnxruntime.quantization.quantize_dynamic` of that graph, per-channel (CPU)
    openvino-int8  OpenVINO's CPU plugin on NNCF's static int8 graph, calibrated on training windows (CPU)

Every variant yields a `pipeline.modeling.tagging.Forward`, so `predict_documents` windows, merges and
decodes exactly as in training whatever the backend.

The ONNX graphs are exported once per run into `<run>/model/onnx/`, with `export.json` naming the
recipe (`ONNX_RECIPE`); graphs from another recipe are exported again. The recipe, measured on the
CPU minilm run (bench): attention is exported in its eager form, because ONNX Runtime's BERT
optimizer recognises that pattern and fuses it (with embeddings, skip-layer-norm and bias-GELU) into
its own CPU kernels, which the SDPA export defeats; weights are quantized per output channel, which
halves the F1 lost to int8 against one scale per tensor. torch 2.13's default exporter is the dynamo
one, which needs `onnxscript`; the TorchScript exporter (`dynamo=False`) needs nothing extra.

openvino-int8, measured on the same run (the report's Methods chapter; docs/methods.md): OpenVINO runs a quantized graph as true int8
with oneDNN's VNNI kernels (its fully connected layers at ~80% of this CPU's int8 peak against ~20% for
the dynamic variants, which quantize activations at run time). The recipe (`STATIC_INT8_RECIPE`) is NNCF's
(OpenVINO's own quantizer) on the exported graph converted to OpenVINO, as a transformer:
- the inputs of every weight product are quantized, and the query and key of attention too (OpenVINO's
  converter makes the eager attention one `ScaledDotProductAttention`): OpenVINO then runs query x key
  of its fused attention kernel in int8, where ONNX Runtime's QDQ placement (the alternative recipe) left
  the kernel in fp32 whatever it marked; softmax x value stays fp32 inside the kernel;
- the residual stream, layer norms and softmax stay fp32 (NNCF's transformer patterns): with the outputs
  of the products quantized too, validation F1 fell 1.6 points under ONNX Runtime's quantizer;
- activations are asymmetric uint8 (preset MIXED, NNCF's default ranges), weights symmetric int8 per
  output channel, smoothed first (SmoothQuant, NNCF's default strength) and bias-corrected; F1 was kept
  with no tuning (validation 0.5884 as fp32, test 0.6225 against 0.6209);
- OpenVINO runs a graph of fixed width faster (`openvino_forward`);
- OpenVINO's default CPU precision hint is bf16 on a CPU with AVX-512 BF16, which without AMX ran
  1.6x slower here; the non-quantized operations are run in fp32.
Calibration reads `CALIBRATION_WINDOWS` windows of the prepared TRAINING documents (never validation or
test), shuffled with `CALIBRATION_SEED`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
import random
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import ConfigError
from pipeline.core.files import read_json, write_json
from pipeline.core.layout import RunFolder, read_combined_parts, run_outputs
from pipeline.modeling.decode import decode_documents
from pipeline.modeling.tagging import (
    Forward,
    load_run_model,
    load_run_tokenizer,
    save_run_model,
    torch_forward,
    word_probabilities,
)

DEFAULT_DECODER = "viterbi"  # runs recorded before the decoder was an option are decoded the new way

log = logging.getLogger(__name__)

VARIANTS = ("fp32", "fp16", "bf16", "int8", "onnx", "onnx-int8", "openvino-int8")
GPU_VARIANTS = ("fp32", "fp16", "bf16")
CPU_VARIANTS = ("fp32", "int8", "onnx", "onnx-int8", "openvino-int8")
CPU_ONLY = ("int8", "onnx", "onnx-int8", "openvino-int8")
GRAPH_VARIANTS = ("onnx", "onnx-int8", "openvino-int8")  # their graph is made once into <run>/model/onnx, then reused
OPTIONAL_PACKAGES = {"openvino-int8": ("openvino", "nncf")}  # variant -> packages it needs beyond the core ones
CALIBRATION_WINDOWS = 64
WIDTH_STEP = 32  # openvino-int8 compiles one graph per window width rounded up to a multiple of this
CALIBRATION_SEED = 0
STATIC_INT8_RECIPE = {
    "graph": "exported (unfused), opset 17, eager attention, openvino.convert_model",
    "quantizer": "nncf.quantize, ModelType.TRANSFORMER, preset MIXED, SmoothQuant and fast bias correction",
    "format": "OpenVINO IR, FakeQuantize on every MatMul input and on attention's query and key",
    "activations": "uint8 asymmetric, NNCF's default ranges",
    "weights": "int8 symmetric per-channel",
    "calibration": f"{CALIBRATION_WINDOWS} training windows at the run's width, shuffled with seed {CALIBRATION_SEED}",
}
ONNX_OPSET = 17
ONNX_RECIPE = {
    "opset": ONNX_OPSET,
    "attention": "eager",
    "fusion": "onnxruntime.transformers.optimizer (bert)",
    "int8": "dynamic, QInt8, per-channel weights",
}
FUSED_MODEL_TYPES = ("bert",)  # architectures ONNX Runtime's optimizer fuses as model_type "bert"


@dataclass
class TransformerTagger:
    """A transformer run ready to tag, whatever the variant: a `pipeline.modeling.tagger.Tagger`."""

    variant: str
    device: str
    forward: Forward
    tokenizer: Any
    id2tag: dict[int, str]
    max_length: int
    overlap: int
    truncate: bool
    decoder: str = "viterbi"
    model: Any = None  # the torch model as trained (an fp32 load), what `save` writes; None for other variants

    def predict_proba(self, documents: Sequence[Sequence[str]], batch_size: int = 32) -> list[np.ndarray]:
        """(n_words, n_tags) softmax per document given as words, windows merged per word
        (`pipeline.modeling.tagging.word_probabilities`); rows of words no window covered are NaN."""
        return word_probabilities(
            None, self.tokenizer, documents, self.max_length, self.overlap, self.truncate, batch_size, self.forward
        )

    def predict(self, documents: Sequence[Sequence[str]], batch_size: int = 32) -> list[tuple[list[str], list[float]]]:
        """(tags, confidences) per document: `predict_proba` decoded with the run's decoder."""
        return decode_documents(self.predict_proba(documents, batch_size), self.id2tag, self.decoder)

    def save(self, folder: str | Path) -> None:
        """The run folder's model/ (weights, tokenizer, tags.json), whole or not at all; the windows, truncation
        and decoder are the run's settings, in config.json (written when the run began)."""
        if self.model is None:
            raise ConfigError(f"a transformer loaded as {self.variant} cannot be saved: load it as fp32")
        save_run_model(self.model, self.tokenizer, {tag: index for index, tag in self.id2tag.items()}, folder)

    @classmethod
    def load(
        cls,
        folder: str | Path,
        variant: str = "fp32",
        device: str | None = None,
        windows: tuple[int, int] | None = None,
    ) -> TransformerTagger:
        """`load_inference` with `windows` (max_length, overlap) instead of the run's own when given."""
        tagger = load_inference(folder, variant, device)
        return dataclasses.replace(tagger, max_length=windows[0], overlap=windows[1]) if windows else tagger


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_variant(variant: str, device: str) -> None:
    if variant not in VARIANTS:
        raise ConfigError(f"unknown inference variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if device != "cpu" and variant in CPU_ONLY:
        raise ConfigError(f"variant {variant} runs on CPU only (asked for {device})")
    missing = missing_packages(variant)
    if missing:
        raise ConfigError(
            f"variant {variant} needs the {' and '.join(missing)} package{'s' if len(missing) > 1 else ''}, "
            f"not installed (pip install {' '.join(missing)})"
        )


def missing_packages(variant: str) -> list[str]:
    """The packages `variant` needs that are not installed (bench skips such variants)."""
    return [package for package in OPTIONAL_PACKAGES.get(variant, ()) if importlib.util.find_spec(package) is None]


def torch_variant(model: Any, variant: str) -> Any:
    """The model converted in place (half precision) or copied (dynamic int8)."""
    import torch

    if variant == "fp16":
        return model.half()
    if variant == "bf16":
        return model.to(torch.bfloat16)
    if variant == "int8":
        with warnings.catch_warnings():  # torch 2.13 deprecates torch.ao.quantization in favour of torchao
            warnings.simplefilter("ignore")
            qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
            return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear: qconfig}, dtype=torch.qint8)
    return model


def export_onnx(model: Any, folder: Path, quantize: bool) -> Path:
    """`folder/model.onnx` (and `model.int8.onnx`) made by `ONNX_RECIPE`, once; each written under a
    temporary name first."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "export.json"
    if not manifest.exists() or read_json(manifest) != ONNX_RECIPE:
        for stale in folder.glob("*.onnx"):
            stale.unlink()
    fp32_path = folder / "model.onnx"
    if not fp32_path.exists():
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            partial = Path(scratch) / "model.onnx"
            fuse_graph(export_graph(model, Path(scratch) / "exported.onnx"), model.config, partial)
            os.replace(partial, fp32_path)
        write_json(manifest, ONNX_RECIPE)
    if not quantize:
        return fp32_path
    int8_path = folder / "model.int8.onnx"
    if not int8_path.exists():
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            partial = Path(scratch) / "model.int8.onnx"
            # fused operators (com.microsoft) have no ONNX shape inference: their outputs are float
            with quiet_onnx_tools():
                quantize_dynamic(
                    str(fp32_path),
                    str(partial),
                    weight_type=QuantType.QInt8,
                    per_channel=True,
                    extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                )
            os.replace(partial, int8_path)
    return int8_path


def export_graph(model: Any, path: Path) -> Path:
    """The model as an ONNX graph with eager attention (the pattern the optimizer fuses)."""
    import torch

    model = model.to("cpu").float().eval()
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    ids = torch.ones((2, 16), dtype=torch.long)
    try:
        with torch.inference_mode(), warnings.catch_warnings():  # tracer warnings on shape checks
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (ids, torch.ones_like(ids)),
                str(path),
                dynamo=False,
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "width"},
                    "attention_mask": {0: "batch", 1: "width"},
                    "logits": {0: "batch", 1: "width"},
                },
                opset_version=ONNX_OPSET,
            )
    finally:
        model.set_attn_implementation(previous)
    return path


def fuse_graph(source: Path, config: Any, target: Path) -> None:
    """ONNX Runtime's transformer fusions applied to `source`, saved as `target` (a copy when the
    architecture is not one it fuses)."""
    if config.model_type not in FUSED_MODEL_TYPES:
        log.info("no ONNX Runtime fusion for model type %s; the graph is used as exported", config.model_type)
        os.replace(source, target)
        return
    from onnxruntime.transformers.optimizer import optimize_model

    with quiet_onnx_tools():
        fused = optimize_model(
            str(source), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
        )
        fusions = {name: count for name, count in fused.get_fused_operator_statistics().items() if count}
        fused.save_model_to_file(str(target))
    log.info("ONNX Runtime fusions: %s", fusions)


@contextmanager
def quiet_onnx_tools() -> Iterator[None]:
    """ONNX Runtime's optimizer and quantizer log every tensor at INFO and advise pre-processing (which
    the fused graph does not need) at WARNING; their failures still raise."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def onnx_forward(path: Path, threads: int) -> Forward:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]

    return forward


def export_static_int8(model: Callable[[], Any], calibration: Callable[[], list[Any]], folder: Path) -> Path:
    """`folder/model.static-int8.xml` (OpenVINO IR) made by `STATIC_INT8_RECIPE` from the graph exported
    from the torch model `model` loads, calibrated on the windows `calibration` returns
    (`calibration_windows`); both are called only when the graph is made, once, recorded in
    `folder/static-int8.json`."""
    folder.mkdir(parents=True, exist_ok=True)
    path, manifest = folder / "model.static-int8.xml", folder / "static-int8.json"
    made = path.exists() and path.with_suffix(".bin").exists() and manifest.exists()
    if made and read_json(manifest) == STATIC_INT8_RECIPE:
        return path
    import nncf
    import openvino

    def inputs(window: Any) -> dict[str, np.ndarray]:
        ids = np.array([window.input_ids], dtype=np.int64)
        return {"input_ids": ids, "attention_mask": np.ones_like(ids)}

    windows = calibration()
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        graph = openvino.convert_model(export_graph(model(), Path(scratch) / "exported.onnx"))
        quantized = nncf.quantize(
            graph,
            nncf.Dataset(windows, inputs),
            model_type=nncf.ModelType.TRANSFORMER,
            preset=nncf.QuantizationPreset.MIXED,
            subset_size=len(windows),
        )
        partial = Path(scratch) / path.name
        openvino.save_model(quantized, str(partial))
        os.replace(partial.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(partial, path)
    write_json(manifest, STATIC_INT8_RECIPE)
    return path


def calibration_windows(tokenizer: Any, documents: list[list[str]], max_length: int, overlap: int) -> list[Any]:
    """`CALIBRATION_WINDOWS` windows of `documents` (the training part), in a fixed shuffled order."""
    from pipeline.modeling.features import encode_documents

    if not documents:
        raise ConfigError("static int8 calibration needs training documents; the prepared training part is empty")
    shuffled = list(documents)
    random.Random(CALIBRATION_SEED).shuffle(shuffled)
    windows: list[Any] = []
    for words in shuffled:
        windows.extend(encode_documents(tokenizer, [words], max_length, overlap))
        if len(windows) >= CALIBRATION_WINDOWS:
            break
    return windows[:CALIBRATION_WINDOWS]


def training_documents(run_dir: str | Path) -> list[list[str]]:
    """The words of the prepared training part of the outputs folder `run_dir` sits in."""
    from pipeline.data.prepare import load_prepared

    return [document.words for document in load_prepared(run_outputs(run_dir).root).parts["train"]]


def openvino_forward(path: Path, threads: int) -> Forward:
    """OpenVINO's CPU plugin on the graph at `path`, one compiled copy per window width rounded up to
    `WIDTH_STEP` (compiled when first met, about half a second each; the batch size stays free): with a
    fixed width OpenVINO plans its fused int8 attention ahead, which ran ~30% faster than on a free width.
    The padding positions are masked out and cut from the logits."""
    import openvino

    core = openvino.Core()
    graph = core.read_model(str(path))
    settings = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    requests: dict[int, Any] = {}

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        width = ids.shape[1]
        padded = -(-width // WIDTH_STEP) * WIDTH_STEP
        if padded not in requests:
            fixed = graph.clone()
            fixed.reshape({"input_ids": [-1, padded], "attention_mask": [-1, padded]})
            requests[padded] = core.compile_model(fixed, "CPU", settings).create_infer_request()
        margin = ((0, 0), (0, padded - width))
        inputs = {"input_ids": np.pad(ids, margin), "attention_mask": np.pad(mask, margin)}
        return np.array(requests[padded].infer(inputs)[0][:, :width])

    return forward


def load_inference(
    run_dir: str | Path, variant: str = "fp32", device: str | None = None, onnx_dir: str | Path | None = None
) -> TransformerTagger:
    """A transformer run ready to predict in `variant`; ONNX graphs go to `onnx_dir` (default
    `<run>/model/onnx`). Any kind of run: `pipeline.modeling.tagger.load_tagger`."""
    import torch

    device = device or ("cpu" if variant in CPU_ONLY else default_device())
    check_variant(variant, device)
    if variant == "openvino-int8":  # the torch model is loaded only to make the graph
        tokenizer, id2tag, settings = load_run_tokenizer(run_dir)

        def calibration() -> list[Any]:
            documents = training_documents(run_dir)
            return calibration_windows(tokenizer, documents, int(settings["max_length"]), int(settings["overlap"]))

        folder = Path(onnx_dir) if onnx_dir else RunFolder(run_dir).onnx
        path = export_static_int8(lambda: load_run_model(run_dir, "cpu")[0], calibration, folder)
        forward = openvino_forward(path, torch.get_num_threads())
    elif variant.startswith("onnx"):
        model, tokenizer, id2tag, settings = load_run_model(run_dir, device)
        path = export_onnx(
            model, Path(onnx_dir) if onnx_dir else RunFolder(run_dir).onnx, quantize=variant == "onnx-int8"
        )
        forward = onnx_forward(path, torch.get_num_threads())
    else:
        model, tokenizer, id2tag, settings = load_run_model(run_dir, device)
        forward = torch_forward(torch_variant(model, variant))
    return TransformerTagger(
        variant,
        device,
        forward,
        tokenizer,
        id2tag,
        int(settings["max_length"]),
        int(settings["overlap"]),
        settings.get("long_docs") == "truncate",
        settings.get("decoder", DEFAULT_DECODER),
        model=model if variant == "fp32" else None,
    )


def encoder_run(run_dir: str | Path) -> Path:
    """The run whose transformer `run_dir` predicts with: a combined run's transformer part, else itself
    (what the benchmark reads the encoder's shape and windows from, and what the reference pipeline loads)."""
    parts = read_combined_parts(run_dir)
    return Path(parts["transformer_dir"]) if parts else Path(run_dir)
