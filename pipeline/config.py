"""Configuration: one dataclass per stage, its allowed values, and the `cpu` and `gpu` profiles.

Every dataclass field is a CLI flag (`--field-name`, made by `pipeline.cli_flags`), so every value can
be overridden without editing code. Values resolve as: dataclass default, then the profile (`cpu` or
`gpu`), then the flags given on the command line. The models a field may name are registered in
`pipeline.modeling.registry`; the names of runs are made by `pipeline.core.layout`.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from pipeline.core.errors import ConfigError

PROJECT = "Medical_NER_FineTuning"
DATASET = "ktgiahieu/maccrobat2018_2020"
DATA_ENV = "MACCROBAT_DATA"
OFFLINE_MODEL = "minilm"  # the default model: the offline encoder (pipeline.modeling.registry), no network


def default_data_source() -> str:
    """`MACCROBAT_DATA` when set, else the Hugging Face dataset."""
    return os.environ.get(DATA_ENV) or DATASET


@dataclass(frozen=True)
class Range:
    """The values a numeric setting allows (each value, for a list). A bound is a number or the name of
    another field of the same config (a window's overlap stays below its length); an open bound is itself
    excluded."""

    low: float | str | None = None
    high: float | str | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float, config: Any) -> bool:
        low, high = (getattr(config, b) if isinstance(b, str) else b for b in (self.low, self.high))
        above = low is None or (value > low if self.low_open else value >= low)
        below = high is None or (value < high if self.high_open else value <= high)
        return bool(above and below)  # False for NaN

    def describe(self, config: Any = None) -> str:
        """`>= 1`, `> 0`, `in [0, 1]`, `>= 0 and < --max-length (256)`: the range as help and errors show it
        (a bound naming a field shows that field's value in `config`)."""

        def shown(bound: float | str) -> str:
            if isinstance(bound, str):
                return flag_name(bound) + (f" ({getattr(config, bound)})" if config is not None else "")
            return f"{bound:g}" if isinstance(bound, float) else str(bound)

        if not isinstance(self.low, str | None) and not isinstance(self.high, str | None):
            opening, closing = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {opening}{shown(self.low)}, {shown(self.high)}{closing}"
        parts = [f"{'>' if self.low_open else '>='} {shown(self.low)}"] if self.low is not None else []
        parts += [f"{'<' if self.high_open else '<='} {shown(self.high)}"] if self.high is not None else []
        return " and ".join(parts)


AT_LEAST_0, AT_LEAST_1, ABOVE_0, SHARE = Range(0), Range(1), Range(0, low_open=True), Range(0, 1)
SEED = Range(0, 2**32 - 1)  # what numpy's seeding accepts
WINDOW = Range(3)  # wordpieces per window: [CLS], at least one of the text, [SEP]
OVERLAP = Range(0, "max_length", high_open=True)  # wordpieces shared by consecutive windows


def option(
    default: Any,
    help: str,
    choices: tuple[str, ...] | None = None,
    allowed: Range | None = None,
    nonempty: bool = False,
    models: bool = False,
) -> Any:
    """A dataclass field carrying its CLI help, its allowed values (`choices`, or a numeric `allowed` range;
    `nonempty`: a list needs a value), all checked by `check_settings`; `models`: it names models, and its
    help lists the registered ones. A list default is copied per instance and a callable default (e.g.
    `default_data_source`) is called per instance."""
    metadata = {
        "help": help,
        **({"models": True} if models else {}),
        **({"choices": choices} if choices else {}),
        **({"allowed": allowed} if allowed else {}),
        **({"nonempty": True} if nonempty else {}),
    }
    if isinstance(default, list):
        return field(default_factory=default.copy, metadata=metadata)
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


def setting_problem(spec: dataclasses.Field, config: Any) -> str | None:
    """What is wrong with the value of the field `spec` in `config`, in one line naming the flag, the value
    and what is allowed (checking each value of a list); None when it is allowed."""
    value = getattr(config, spec.name)
    flag, values = flag_name(spec.name), value if isinstance(value, list) else [value]
    if spec.metadata.get("nonempty") and not values:
        return f"{flag} needs at least one value"
    choices, allowed = spec.metadata.get("choices"), spec.metadata.get("allowed")
    for item in values:
        if item is None:  # an optional setting left unset
            continue
        if choices and item not in choices:
            return f"{flag} {item} is not allowed; choose one of {', '.join(choices)}"
        if allowed is not None and not allowed.contains(item, config):
            each = " (each value)" if isinstance(value, list) else ""
            return f"{flag} {item} is out of range: allowed {allowed.describe(config)}{each}"
    return None


def check_settings(config: Any) -> None:
    """Raise ConfigError for the first field of a config outside its choices or range (`option`): run by
    every config's `__post_init__`, so a bad value stops before anything is loaded or written."""
    for spec in dataclasses.fields(config):
        problem = setting_problem(spec, config)
        if problem:
            raise ConfigError(problem)


class CheckedSettings:
    """The base of every config dataclass: its values are checked when it is made (or replaced)."""

    def __post_init__(self) -> None:
        check_settings(self)


DATA_HELP = (
    f"a brat folder (searched recursively; train/dev/test subfolders give its own split), CoNLL files or a "
    f"folder of them (train.txt/dev.txt/test.txt, .conll, .tsv), a .jsonl or .parquet file in the Hugging Face "
    f"schema, a saved Hugging Face dataset, or a hub dataset id (${DATA_ENV} when set, else {DATASET})"
)
CORPUS_NAME_HELP = (
    "the corpus's name in the report's title and sentences, the W&B run config and the PDF file name "
    "(default: the data folder's or dataset's name)"
)
OUTPUT_DIR_HELP = "root of every output (data/, runs/, comparison/, report/, stages/)"
WANDB_HELP = "track the run with Weights & Biases (offline inside the run directory without a key)"
WANDB_TEXT_HELP = "upload document text in the predictions artifact"
WORKERS_HELP = (
    "processes scoring the {points} side by side, at most one per usable core and one per {point}; 0 = one per "
    "usable core; 1 = one after another in this process; the choice is the same either way"
)


@dataclass
class Windows(CheckedSettings):
    """How a document is cut into wordpiece windows: one definition for `data` (its window statistics) and
    `train` (and so `predict` and `bench`), set once per profile, so the data summary measures the windows
    the same profile trains on."""

    max_length: int = option(
        512,
        "wordpieces per window, special tokens included (capped by the model's position embeddings)",
        allowed=WINDOW,
    )
    overlap: int = option(128, "wordpieces shared by consecutive windows", allowed=OVERLAP)


@dataclass
class DataConfig(Windows):
    """Task 1.1: loading, conversion, split, tiers and the rare-type policy."""

    data: str = option(default_data_source, DATA_HELP)
    output_dir: str = option("outputs", OUTPUT_DIR_HELP)
    corpus_name: str = option("", CORPUS_NAME_HELP)
    split: str = option(
        "auto",
        "predefined: the source's own train/validation/test (brat part folders, CoNLL part files, hub splits); "
        "random: a stratified document split; auto: predefined when the source has one",
        ("auto", "predefined", "random"),
    )
    split_file: str = option("", "reuse a split: a split.json as the data stage writes it (overrides --split)")
    split_by: str = option("document", "document (default) or rows (the plan's leaky row split)", ("document", "rows"))
    versions: str = option(
        "last", "which version of a repeated document to keep: first | last | all", ("first", "last", "all")
    )
    validation_size: float = option(30, "validation documents: a count, or a fraction when below 1", allowed=AT_LEAST_0)
    test_size: float = option(30, "test documents: a count, or a fraction when below 1", allowed=AT_LEAST_0)
    seed: int = option(42, "seed of the split", allowed=SEED)
    rare_policy: str = option(
        "keep", "keep | drop (types below rare_min_mentions training mentions become O)", ("keep", "drop")
    )
    rare_min_mentions: int = option(
        50, "training mentions below which --rare-policy drop drops a type", allowed=AT_LEAST_0
    )
    frequent_above: float = option(
        1000,
        "tier threshold: types with more training mentions are frequent (below 1: a share of all mentions)",
        allowed=AT_LEAST_0,
    )
    rare_below: float = option(
        100,
        "tier threshold: types with fewer training mentions are rare (below 1: a share of all mentions)",
        allowed=AT_LEAST_0,
    )
    conll_token_column: int = option(0, "CoNLL sources: the column holding the token (0 = first)")
    conll_tag_column: int = option(-1, "CoNLL sources: the column holding the tag (-1 = last)")
    hf_config: str = option("", "Hugging Face sources: the dataset configuration")
    hf_split: str = option("", "Hugging Face sources: read only this split (default: every split, kept as parts)")
    strict: bool = option(False, "repairable problems (orphan I- tags) become errors")
    tokenizer_model: str = option(OFFLINE_MODEL, "tokenizer for the wordpiece statistics", models=True)


@dataclass
class TrackedRun(CheckedSettings):
    """What every training run shares: where it is written and how it is tracked."""

    output_dir: str = option("outputs", OUTPUT_DIR_HELP)
    wandb: bool = option(True, WANDB_HELP)
    wandb_log_text: bool = option(False, WANDB_TEXT_HELP)


@dataclass
class TrainConfig(TrackedRun, Windows):
    """Tasks 1.2/1.3: fine-tuning. Defaults are the plan's recipe; the `cpu` profile is tuned for
    the small offline encoder on 2 cores (how it was found: docs/methods.md)."""

    model: str = option(
        OFFLINE_MODEL,
        "a registered model, or a local folder holding a saved model; crf trains the CRF baseline",
        models=True,
    )
    lr: list[float] = option(
        [2e-5], "learning rate; several values: train each, keep the best", allowed=ABOVE_0, nonempty=True
    )
    head_lr: float = option(0.0, "learning rate of the classification head; 0 = same as lr", allowed=AT_LEAST_0)
    batch_size: int = option(16, "training windows per device and step", allowed=AT_LEAST_1)
    eval_batch_size: int = option(32, "windows per forward pass when evaluating and predicting", allowed=AT_LEAST_1)
    gradient_accumulation_steps: int = option(
        1, "steps whose gradients add up before each optimiser update", allowed=AT_LEAST_1
    )
    epochs: int = option(5, "most training epochs (early stopping may end sooner)", allowed=AT_LEAST_1)
    weight_decay: float = option(0.01, "AdamW weight decay (not on biases and LayerNorm)", allowed=AT_LEAST_0)
    warmup_steps: int = option(500, "learning-rate warmup in optimisation steps", allowed=AT_LEAST_0)
    max_warmup_share: float = option(
        0.1, "when warmup_steps exceed this share of all steps, use the share", allowed=SHARE
    )
    scheduler: str = option(
        "linear", "learning-rate schedule after warmup", ("linear", "cosine", "constant_with_warmup", "polynomial")
    )
    select_on: str = option(
        "micro",
        "the validation score that keeps the best epoch, stops early and picks the learning rate: micro "
        "(strict micro-F1), macro (macro-F1 over types) or mean (their mean, which waits for rare types)",
        ("micro", "macro", "mean"),
    )
    patience: int = option(
        2,
        "early stopping: epochs without a better validation score (--select-on) before training stops",
        allowed=AT_LEAST_1,  # with 0 the Trainer stops after the first epoch whatever the score
    )
    loss: str = option(
        "cross-entropy",
        "training loss: cross-entropy | class-weighted (tags weighted by the square root of their inverse "
        "training frequency) | focal (gamma 2: down-weights wordpieces already right); a rare-type lever",
        ("cross-entropy", "class-weighted", "focal"),
    )
    oversample_rare: int = option(
        0,
        "extra copies of every training window that holds a rare-tier type (tiers of the data stage); a rare-type "
        "lever; 0 = off",
        allowed=AT_LEAST_0,
    )
    long_docs: str = option(
        "window", "window: every word predicted; truncate: the common 512-cut recipe", ("window", "truncate")
    )
    encoder_layers: int = option(
        0,
        "keep only the first k layers of the pretrained encoder and fine-tune that lighter student (about k/n of "
        "the encoder's FLOPs per wordpiece); 0 = every layer",
        allowed=AT_LEAST_0,
    )
    label_all_subwords: bool = option(
        False, "train on every wordpiece of a word (B- becomes I- on continuations), not only on its first"
    )
    precision: str = option(
        "auto",
        "auto (fp16 on CUDA, else fp32; the run config records what it became) | fp32 | fp16 | bf16 (autocast; "
        "on CPU only with AVX-512 BF16 or AMX, and measured slower than fp32 on a CPU without AMX: docs/methods.md)",
        ("auto", "fp32", "fp16", "bf16"),
    )
    seed: int = option(42, "seed of initialisation and data order", allowed=SEED)
    seeds: list[int] = option(
        [],
        "train the recipe once per seed, as separate runs named <model>-seed<N>-<time> (e.g. 42,43,44); "
        "`compare` summarises runs that differ only by seed; empty: one run with --seed",
        allowed=SEED,
    )
    threads: int = option(0, "torch CPU threads; 0 = torch default", allowed=AT_LEAST_0)
    decoder: str = option(
        "viterbi",
        "per-word distributions to tags, in validation and prediction: viterbi (the most probable valid IOB2 "
        "sequence) | argmax (each word's best tag, then repaired)",
        ("viterbi", "argmax"),
    )


@dataclass
class CRFConfig(TrackedRun):
    """The CRF baseline (sklearn-crfsuite, L-BFGS with elastic-net regularisation)."""

    c1: list[float] = option(
        [0.05, 0.1, 0.3],
        "L1 regularisation coefficients; with --c2 a grid, the best point on validation is kept",
        allowed=AT_LEAST_0,
        nonempty=True,
    )
    c2: list[float] = option(
        [0.01, 0.1], "L2 regularisation coefficients (grid with --c1)", allowed=AT_LEAST_0, nonempty=True
    )
    max_iterations: int = option(100, "most L-BFGS iterations of the CRF that is kept", allowed=AT_LEAST_1)
    grid_iterations: int = option(
        50,
        "L-BFGS iterations of each grid point (capped by --max-iterations); the chosen point is then refitted "
        "with --max-iterations (a single-point grid is fitted once)",
        allowed=AT_LEAST_1,
    )
    workers: int = option(0, WORKERS_HELP.format(points="grid points", point="point"), allowed=AT_LEAST_0)


@dataclass
class CombineConfig(TrackedRun):
    """`python -m pipeline combine`: a transformer run and a CRF run averaged per word, prior-corrected; weight and
    tau chosen on validation."""

    run: str = option(
        OFFLINE_MODEL,
        "the transformer run: a directory, a run name or its part before the date-time (newest; "
        "minilm is never minilm-seed43-...)",
    )
    crf_run: str = option("crf", "the CRF run: a directory, a run name or its part before the date-time (newest)")
    weights: list[float] = option(
        [round(0.1 * step, 1) for step in range(11)],
        "the transformer's weight candidates (the CRF gets 1 - weight); the best on validation is kept",
        allowed=SHARE,
        nonempty=True,
    )
    decoder: str = option("viterbi", "decoder of the averaged distributions: viterbi | argmax", ("viterbi", "argmax"))
    prior_taus: list[float] = option(
        [0.0, 0.25, 0.5, 0.75, 1.0],
        "prior correction strengths searched with the weights: each word's distribution is divided by the "
        "training tag prior to the power tau and renormalised (0 = none, 1 = as if all tags were equally frequent)",
        allowed=AT_LEAST_0,
        nonempty=True,
    )
    objective: str = option(
        "micro",
        "what the validation search maximises: micro | macro | mean (of micro- and macro-F1, strict seqeval)",
        ("micro", "macro", "mean"),
    )
    workers: int = option(
        0, WORKERS_HELP.format(points="(weight, tau) candidates", point="candidate"), allowed=AT_LEAST_0
    )


@dataclass
class ReportConfig(CheckedSettings):
    """Task 1.9: the versioned report built from the JSON of every analysed run."""

    output_dir: str = option("outputs", OUTPUT_DIR_HELP)
    runs: list[str] = option([], "run names to include; empty = every analysed run")
    renderer: str = option(
        "auto", "auto (quarto when on PATH, else offline) | quarto | offline", ("auto", "quarto", "offline")
    )
    notebook_timeout: int = option(600, "seconds per notebook cell", allowed=AT_LEAST_1)


THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)  # span-confidence thresholds of the analysis
POLICY_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99)  # a type's threshold is one of these
HIGH_VALUE_TYPES = ("Disease_disorder", "Therapeutic_procedure", "Medication")  # coded first in production


@dataclass
class BootstrapConfig(CheckedSettings):
    """The bootstrap over documents behind every interval and paired test (`leak` reads only these)."""

    resamples: int = option(1000, "bootstrap resamples over documents", allowed=AT_LEAST_1)
    seed: int = option(42, "seed of the bootstrap and of the example sample", allowed=SEED)


@dataclass
class AnalysisConfig(BootstrapConfig):
    """Tasks 1.4-1.8: `analyze` (and the bootstrap settings of `compare`)."""

    part: str = option("test", "the part scored and analysed")
    calibration_part: str = option(
        "validation",
        "the part on which every choice is made: temperature, recommended threshold, deployment policy, the "
        "recommended model and the best model per type",
    )
    thresholds: list[float] = option(
        list(THRESHOLDS), "span-confidence thresholds of the readiness tables", allowed=SHARE, nonempty=True
    )
    span_confidence: str = option("min", "min | mean of the word confidences of a span", ("min", "mean"))
    target_precision: float = option(
        0.90,
        "precision target on validation: of the recommended threshold, and of each entity type's threshold in the "
        "deployment policy (policy.json)",
        allowed=SHARE,
    )
    high_value_types: list[str] = option(
        [],
        "entity types coded first in production, reported on their own; each must be a type of the corpus "
        f"(empty: {', '.join(HIGH_VALUE_TYPES)} when the corpus has them all, else its three most frequent "
        "training types)",
    )
    high_value_threshold: float = option(
        0.85, "confidence threshold at which high-value types are reported", allowed=SHARE
    )
    policy_thresholds: list[float] = option(
        list(POLICY_THRESHOLDS),
        "the confidence thresholds the deployment policy chooses each type's threshold from",
        allowed=SHARE,
        nonempty=True,
    )
    policy_min_support: int = option(
        20,
        "deployment policy: a type gets a threshold of its own only with at least this many validation predictions "
        "at or above it; types with fewer predictions in all share one threshold chosen on their pooled predictions",
        allowed=AT_LEAST_1,
    )
    review_seconds_per_span: float = option(
        30.0, "a coder's seconds per reviewed span, for the review load in hours", allowed=ABOVE_0
    )
    review_notes: int = option(10000, "notes in the review-load estimate of the deployment policy", allowed=AT_LEAST_1)
    examples: int = option(25, "error examples, stratified by category", allowed=AT_LEAST_0)
    context_words: int = option(10, "words of context either side of an example", allowed=AT_LEAST_0)
    figures: bool = option(True, "draw the analysis figures (png and svg)")


CRITERIA = ("f1", "speed", "rare", "memory")  # the decision matrix's criteria, in its column order
DEFAULT_WEIGHTS = "f1=0.4,speed=0.3,rare=0.2,memory=0.1"


def parse_weights(text: str) -> dict[str, float]:
    """`f1=0.4,speed=0.3` -> a weight per criterion (unnamed ones weigh 0); an unknown name, a value that is
    not a number, a negative weight or weights that are all 0 raise ConfigError."""
    weights = dict.fromkeys(CRITERIA, 0.0)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        name = name.strip()
        if name not in weights:
            raise ConfigError(
                f"--criteria-weights: unknown criterion {name!r} in {text!r}; criteria: {', '.join(CRITERIA)}"
            )
        try:
            weights[name] = float(value)
        except ValueError:
            raise ConfigError(f"--criteria-weights: {item!r} is not <criterion>=<number>") from None
        if weights[name] < 0 or weights[name] != weights[name]:
            raise ConfigError(f"--criteria-weights: the weight of {name} is {value.strip()}; weights are 0 or more")
    if not sum(weights.values()) > 0:
        raise ConfigError(f"--criteria-weights {text!r}: at least one criterion needs a weight above 0")
    return weights


@dataclass
class CompareConfig(AnalysisConfig):
    """`compare`: the bootstrap settings of `analyze`, the deployment requirements the chosen model must meet
    (stated by the team that deploys it, not fitted), the credibility rule between the most accurate and the
    rest, and the decision matrix's weights (a sensitivity view, not the rule)."""

    throughput_notes: int = option(
        10000,
        "throughput requirement: notes the chosen model must code within --throughput-hours on the machine "
        "that ran bench, read from the variant bench chose (0: no throughput requirement)",
        allowed=AT_LEAST_0,
    )
    throughput_hours: float = option(8.0, "hours allowed for --throughput-notes notes", allowed=ABOVE_0)
    max_memory_mb: float = option(
        4096.0,
        "memory requirement: peak inference memory (MB) of the variant bench chose (0: no memory requirement)",
        allowed=AT_LEAST_0,
    )
    min_precision: float = option(
        0.0, "precision requirement: the least validation micro precision of the chosen model (0: none)", allowed=SHARE
    )
    credible: float = option(
        0.95,
        "P(better) on validation (paired bootstrap over documents) from which the most accurate candidate is "
        "credibly better than another; below it the two are not credibly different and the faster (docs/s) wins",
        allowed=Range(0.5, 1),
    )
    criteria_weights: str = option(
        DEFAULT_WEIGHTS,
        f"weights of the decision matrix's criteria ({', '.join(CRITERIA)}), shown as a sensitivity view of the "
        "choice (which weights would choose another model), e.g. f1=1 for F1 only; unnamed criteria weigh 0",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        parse_weights(self.criteria_weights)


@dataclass
class BenchConfig(CheckedSettings):
    """`python -m pipeline bench`: sample sizes, variants and the prices of the 10,000-note estimate."""

    variants: list[str] = option(
        [],
        "variants to time; empty: fp32,bf16 (CPUs with AMX),int8,onnx,onnx-int8,openvino-int8 (int8 ones on CPUs with VNNI/AMX, onnx-int8 also on AVX2, openvino when installed) on CPU; fp32,fp16,bf16 on GPU",
    )
    device: str = option("", "cpu | cuda; empty: cuda when available")
    sample_docs: int = option(20, "test documents timed (latency and batches)", allowed=AT_LEAST_1)
    rounds: int = option(
        3,
        "interleaved timing rounds (reference, variant, reference, ...); median and range reported",
        allowed=AT_LEAST_1,
    )
    time_budget: float = option(
        600.0,
        "seconds the timed rounds may take, estimated from the warm-up pass: beyond it every block times fewer of "
        "the sample's documents (at least 5), keeping every round; 0 = no budget",
        allowed=AT_LEAST_0,
    )
    batch_sizes: list[int] = option(
        [8, 16], "windows (reference: texts) per forward pass, besides 1", allowed=AT_LEAST_1
    )
    windows: list[str] = option(
        ["256/32", "256/16", "192/16", "128/16", "512/32"],
        "inference windows max_length/overlap tried against the run's own: the fewest encoder FLOPs per wordpiece "
        "whose fp32 validation F1 stays within f1_tolerance (those longer than the model's positions are skipped)",
    )
    f1_batch_size: int = option(
        8,
        "windows per pass when scoring: predict's default (int8 quantizes activations per batch)",
        allowed=AT_LEAST_1,
    )
    reference: bool = option(True, "also time the plain transformers pipeline")
    target_ratio: float = option(
        2.5, "median docs/s over the reference, at test F1 within f1_tolerance points", allowed=ABOVE_0
    )
    target_min_ratio: float = option(2.0, "the lowest ratio over rounds the target allows", allowed=ABOVE_0)
    part_target_ratio: float = option(
        0.85,
        "a combined run's target: median docs/s over its transformer part's alone (the same variant and windows, "
        "interleaved rounds, each at its best batch size)",
        allowed=ABOVE_0,
    )
    f1_tolerance: float = option(
        0.5, "F1 points a choice may lose (validation) and the target allows (test)", allowed=AT_LEAST_0
    )
    students: list[str] = option(
        [],
        "lighter runs of the same split and tags (e.g. `train --encoder-layers K`) timed in the same rounds as "
        "predict runs them: summary.lighter names the fastest whose validation F1 is within student_tolerance",
    )
    student_tolerance: float = option(
        1.0, "validation F1 points a student may lose against this run's fp32 and still be named", allowed=AT_LEAST_0
    )
    notes: int = option(10000, "notes in the cost estimate", allowed=AT_LEAST_1)
    cpu_price_per_hour: float = option(
        0.10, "CPU price per hour in the estimate, e.g. a 2-vCPU cloud instance", allowed=AT_LEAST_0
    )
    gpu_price_per_hour: float = option(
        2.50, "GPU price per hour in the estimate, e.g. one data-centre GPU, on demand", allowed=AT_LEAST_0
    )
    threads: int = option(0, "torch / ONNX Runtime threads; 0 = torch default", allowed=AT_LEAST_0)
    figure: bool = option(True, "draw bench.png")


@dataclass
class PredictConfig(CheckedSettings):
    """`python -m pipeline predict`: inputs, variant and batching."""

    threshold: float | None = option(
        None,
        "one confidence threshold for every type: spans below it go to review, the run's deployment policy "
        "(policy.json) is not applied; unset: the policy, or every span to review for a run without one",
        allowed=SHARE,
    )
    review_brat: str = option(
        "",
        "also write the review queue to this folder as brat standoff: <id>.txt + <id>.ann for each note with a span "
        "to review, every span a T line with its decision, reason and confidence in an AnnotatorNotes line",
    )
    variant: str = option(
        "",
        "fp32 | fp16 | bf16 | int8 | onnx | onnx-int8 | openvino-int8; empty: the variant and windows the run's bench chose on "
        "validation (bench.json summary.chosen; a combined run: its transformer part's), else --int8/--onnx",
    )
    int8: bool = option(False, "dynamic int8 (with --onnx: ONNX Runtime int8)")
    onnx: bool = option(False, "ONNX Runtime")
    batch_docs: int = option(16, "notes predicted together (1 when streaming from stdin)", allowed=AT_LEAST_1)
    batch_size: int = option(
        0,
        "windows per forward pass; 0: the batch size bench chose with its variant (bench.json summary.chosen) "
        "when predict runs that variant, else 8; a value given here always applies",
        allowed=AT_LEAST_0,
    )
    segment_words: int = option(20000, "longer notes are predicted in segments of this many words", allowed=AT_LEAST_1)
    segment_context: int = option(200, "words of context either side of a segment", allowed=AT_LEAST_0)


@dataclass
class PipelineConfig(CheckedSettings):
    """`python -m pipeline all`: the whole chain, each stage cached under outputs/stages/."""

    data: str = option(default_data_source, DATA_HELP)
    output_dir: str = option("outputs", OUTPUT_DIR_HELP)
    corpus_name: str = option("", CORPUS_NAME_HELP)
    models: list[str] = option([OFFLINE_MODEL], "models to train; the first also gets a truncate twin", models=True)
    truncate_twin: bool = option(True, "also train the first model with --long-docs truncate (the 512-cut recipe)")
    crf: bool = option(True, "also train the CRF baseline")
    combine: bool = option(True, "also combine the first model with the CRF (with --crf), weight chosen on validation")
    leak: bool = option(
        True,
        "measure the leak of the plan's row split: rebuild the Hugging Face set (each document twice) from a "
        "brat source, split its rows as the plan does (--validation-size and --test-size rows, the rest "
        "for training) and train --leak-model on it (brat sources only)",
    )
    leak_model: str = option("crf", "the model trained on both splits for the leak: crf, or one of --models")
    force: bool = option(False, "rerun every stage even when its inputs are unchanged")
    dry_run: bool = option(False, "run and write nothing: say per stage whether it would run, and why")


PROFILES: dict[str, dict[str, dict[str, Any]]] = {  # profile -> config class (or a base of some) -> field values
    "cpu": {
        "TrainConfig": {
            "lr": [2e-4],
            "head_lr": 1e-3,
            "batch_size": 8,
            "epochs": 12,
            "patience": 3,  # ends a run 3 epochs past its best; the report's Methods chapter shows where runs stopped
            # keeps the epoch of the best mean of micro- and macro-F1: on validation (3 seeds, rules replayed on
            # every epoch) micro-F1 alone stopped before the rare types were learned
            "select_on": "mean",
            "label_all_subwords": True,
        },
        "Windows": {"max_length": 256, "overlap": 64},
    },
    "gpu": {
        "TrainConfig": {
            "lr": [2e-5],
            "batch_size": 16,
            "epochs": 5,
            "patience": 2,
            "precision": "auto",
        },
        "Windows": {"max_length": 512, "overlap": 128},
        "PipelineConfig": {"models": ["pubmedbert", "biobert", "bioformer16l"]},
    },
}

CONFIG_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        DataConfig,
        TrainConfig,
        CRFConfig,
        CombineConfig,
        ReportConfig,
        AnalysisConfig,
        CompareConfig,
        BenchConfig,
        PredictConfig,
        PipelineConfig,
    )
}


def profile_values(cls: type, profile: str) -> dict[str, Any]:
    """The values a profile gives the fields of `cls`: those it gives its bases (e.g. `Windows`), then its own."""
    return {k: v for base in reversed(cls.__mro__) for k, v in PROFILES[profile].get(base.__name__, {}).items()}


def flag_name(name: str) -> str:
    """The CLI flag of a config field: `max_length` -> `--max-length`."""
    return "--" + name.replace("_", "-")


def check_fields(cls: type, values: dict[str, Any]) -> None:
    """Raise ConfigError for a key that is no field of `cls` (its values are checked when the config is made)."""
    names = [spec.name for spec in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(
            f"unknown {cls.__name__} field {', '.join(map(repr, unknown))}; valid fields: {', '.join(names)}"
        )


def check_overrides(overrides: dict[str, dict[str, Any]] | None) -> None:
    """Check `{config class name: {field: value}}`: an unknown class name or field, or a value outside its
    choices or range, raises ConfigError (also for a config the run would not build)."""
    for name, values in (overrides or {}).items():
        if name not in CONFIG_CLASSES:
            raise ConfigError(f"unknown config class {name!r} in overrides; known: {', '.join(CONFIG_CLASSES)}")
        check_fields(CONFIG_CLASSES[name], values)
        CONFIG_CLASSES[name](**values)


def make_config(cls: type, profile: str = "cpu", **values: Any) -> Any:
    """Dataclass defaults <- the profile's values <- `values` (their names checked by `check_fields`, every
    value by the config itself)."""
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    check_fields(cls, values)
    names = {spec.name for spec in dataclasses.fields(cls)}
    return cls(**{**{k: v for k, v in profile_values(cls, profile).items() if k in names}, **values})
