"""A finished run loaded for inference in one of several numeric variants, behind one `Forward`.

    fp32        the trained weights as saved (CPU or GPU)
    fp16, bf16  half precision copies (meant for GPU; bf16 also runs on recent CPUs)
    int8        `torch.ao.quantization.quantize_dynamic` on every Linear layer (CPU only)
    onnx        ONNX Runtime on the fp32 graph (CPU)
    onnx-int8   ONNX Runtime on `onnxruntime.quantization.quantize_dynamic` of that graph (CPU)

Every variant yields a `pipeline.predict.Forward`, so `predict_documents` windows, merges and
decodes exactly as in training whatever the backend. The ONNX graphs are exported once per run
into `<run>/model/onnx/` (torch 2.13's default exporter is the dynamo one, which needs
`onnxscript`; the TorchScript exporter, `dynamo=False`, needs nothing extra and is used here).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.predict import Forward, load_run_model, torch_forward

log = logging.getLogger(__name__)

VARIANTS = ("fp32", "fp16", "bf16", "int8", "onnx", "onnx-int8")
GPU_VARIANTS = ("fp32", "fp16", "bf16")
CPU_VARIANTS = ("fp32", "int8", "onnx", "onnx-int8")
ONNX_OPSET = 17


@dataclass
class InferenceModel:
    """What prediction needs from a run, whatever the variant."""

    variant: str
    device: str
    forward: Forward
    tokenizer: Any
    id2tag: dict[int, str]
    max_length: int
    stride: int
    truncate: bool

    def predict(self, documents: list[list[str]], batch_size: int = 32) -> list[tuple[list[str], list[float]]]:
        """(tags, confidences) per document given as words (pipeline.predict.predict_documents)."""
        from pipeline.predict import predict_documents

        return predict_documents(None, self.tokenizer, documents, self.id2tag, self.max_length, self.stride,
                                 self.truncate, batch_size, forward=self.forward)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_variant(variant: str, device: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown inference variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    if device != "cpu" and variant in ("int8", "onnx", "onnx-int8"):
        raise ValueError(f"variant {variant} runs on CPU only (asked for {device})")


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
            return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


def export_onnx(model: Any, folder: Path, quantize: bool) -> Path:
    """`folder/model.onnx` (and `model.int8.onnx`), exported once; written under a temporary name first."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    fp32_path = folder / "model.onnx"
    if not fp32_path.exists():
        model = model.to("cpu").float().eval()
        ids = torch.ones((2, 16), dtype=torch.long)
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            partial = Path(scratch) / "model.onnx"
            with torch.inference_mode(), warnings.catch_warnings():  # tracer warnings on shape checks
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (ids, torch.ones_like(ids)), str(partial), dynamo=False,
                                  input_names=["input_ids", "attention_mask"], output_names=["logits"],
                                  dynamic_axes={"input_ids": {0: "batch", 1: "width"},
                                                "attention_mask": {0: "batch", 1: "width"},
                                                "logits": {0: "batch", 1: "width"}},
                                  opset_version=ONNX_OPSET)
            os.replace(partial, fp32_path)
    if not quantize:
        return fp32_path
    int8_path = folder / "model.int8.onnx"
    if not int8_path.exists():
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            partial = Path(scratch) / "model.int8.onnx"
            quantize_dynamic(str(fp32_path), str(partial), weight_type=QuantType.QInt8)
            os.replace(partial, int8_path)
    return int8_path


def onnx_forward(path: Path, threads: int) -> Forward:
    import numpy as np
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return session.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0]

    return forward


def load_inference(run_dir: str | Path, variant: str = "fp32", device: str | None = None,
                   onnx_dir: str | Path | None = None) -> InferenceModel:
    """A run ready to predict in `variant`; ONNX graphs go to `onnx_dir` (default `<run>/model/onnx`)."""
    import torch

    device = device or ("cpu" if variant in ("int8", "onnx", "onnx-int8") else default_device())
    check_variant(variant, device)
    model, tokenizer, id2tag, settings = load_run_model(run_dir, device)
    if variant.startswith("onnx"):
        path = export_onnx(model, Path(onnx_dir) if onnx_dir else Path(run_dir) / "model" / "onnx",
                           quantize=variant == "onnx-int8")
        forward = onnx_forward(path, torch.get_num_threads())
    else:
        forward = torch_forward(torch_variant(model, variant))
    return InferenceModel(variant, device, forward, tokenizer, id2tag, int(settings["max_length"]),
                          int(settings["stride"]), settings.get("long_docs") == "truncate")
