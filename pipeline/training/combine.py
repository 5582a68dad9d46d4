"""`python -m pipeline combine`: a transformer run and a CRF run averaged per word, recorded as a run.

The transformer's softmax and the CRF's marginals of every validation and test word are computed
once, by their taggers' `predict_proba` (`pipeline.modeling.tagger`, what predict runs); each
candidate (weight, prior correction tau) is scored on validation (strict seqeval after
`config.decoder`; `config.objective` picks micro-F1, macro-F1 or their mean; side by side in `workers`
processes, `pipeline.core.parallel`), the best is kept (the first of equals in grid order: every
weight at the first tau, then the next tau, so with the default taus a correction is kept only if it
beats none) and test is scored once with it. The prior
correction (`pipeline.modeling.mixture.prior_correct`) divides by the tag prior of the training words,
recorded with the chosen tau in `model/combined.json` so that `predict` applies the same. The run folder
is a run like any other (`open_run`/`close_run`: config.json, metrics.json, predictions), with
`model/combined.json` naming its parts for `predict` (written by `pipeline.modeling.mixture.CombinedTagger`),
and `levers/<lever>/<part>.jsonl` holding what each ingredient scores alone on the same documents,
for the ablation of `compare`:

    transformer-argmax    the transformer alone, argmax then repair (the old decoder)
    transformer-viterbi   the transformer alone, constrained Viterbi
    crf-viterbi           the CRF's marginals alone, constrained Viterbi (the CRF itself is its own run)
    combined-no-prior     the combination without prior correction (best weight at tau 0 on validation)
    combined-prior        the best prior-corrected combination (tau > 0) on validation

metrics.json adds `weight_search` [{weight, tau, validation_f1 (micro), validation_macro_f1,
objective}] (the whole grid), `selected_weight`, `selected_tau`, `objective` (its name),
`prior_levers` {lever: {weight, tau}}, `parts` {transformer, crf}, `combine_seconds` (the search),
`train_seconds` (both parts' training plus the search: what it costs to build from nothing) and
`transformer_seed` (the seed of a transformer part trained by `train --seeds`, which also names the
run `combined-seed<N>-<time>`; else null).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config import CombineConfig
from pipeline.core.errors import ConfigError
from pipeline.core.layout import (
    EVAL_PARTS,
    RunFolder,
    prediction_record,
    read_metrics,
    read_run_config,
    run_name,
    write_lever_predictions,
)
from pipeline.core.parallel import map_in_order, worker_count
from pipeline.core.scoring import strict_scores
from pipeline.data.prepare import PreparedData
from pipeline.modeling.backends import TransformerTagger
from pipeline.modeling.crf import CRFTagger
from pipeline.modeling.decode import decode_documents
from pipeline.modeling.mixture import CombinedTagger, combine_documents, tag_prior
from pipeline.training.recorder import close_run, open_run, prepared_with_test, split_hash

MODEL_NAME = "combined"
OBJECTIVES: dict[str, Callable[[float, float], float]] = {
    "micro": lambda micro, macro: micro,
    "macro": lambda micro, macro: macro,
    "mean": lambda micro, macro: (micro + macro) / 2,
}


def check_part(run_dir: Path, prepared: PreparedData) -> dict[str, Any]:
    """A part must be trained on the prepared split and tags, or the average mixes other documents."""
    config = read_run_config(run_dir)
    if config.get("tag2id") != prepared.tag2id:
        raise ConfigError(f"{run_dir}: trained with other tags than the prepared data's")
    if config.get("split_hash") != split_hash(prepared.split):
        raise ConfigError(f"{run_dir}: trained on another split than the prepared data's (split_hash differs)")
    return config


def seed_of_part(transformer_config: dict[str, Any]) -> int | None:
    """The seed of a transformer part trained as one of several runs of `train --seeds`, else None: the
    combined run is then named `combined-seed<N>-<time>`, so `--run combined` keeps meaning the
    combination of the plain run and a seed's combination is never taken for it."""
    settings = transformer_config["train"]
    return int(settings["seed"]) if settings.get("seeds") else None


def search_point(
    weight: float,
    tau: float,
    gold: Sequence[Sequence[str]],
    results: Sequence[tuple[list[str], list[float]]],
    objective: str,
) -> dict[str, float]:
    """One grid point's validation scores and the value the search maximises."""
    scores = strict_scores(gold, [tags for tags, _ in results])
    micro, macro = float(scores["micro"]["f1"]), float(scores["macro"]["f1"])
    return {
        "weight": weight,
        "tau": tau,
        "validation_f1": micro,
        "validation_macro_f1": macro,
        "objective": OBJECTIVES[objective](micro, macro),
    }


@dataclass(frozen=True)
class SearchData:
    """What scoring a (weight, tau) candidate on validation needs, sent once to each worker process."""

    soft: Sequence[np.ndarray]  # the transformer's distributions of the validation words
    marginals: Sequence[np.ndarray]  # the CRF's
    prior: np.ndarray
    id2tag: dict[int, str]
    decoder: str
    gold: Sequence[Sequence[str]]
    objective: str


def score_candidate(data: SearchData, candidate: tuple[float, float]) -> dict[str, float]:
    """A candidate's `search_point`: the combination at its weight and tau, decoded and scored on validation."""
    weight, tau = candidate
    mixed = combine_documents(data.soft, data.marginals, weight, data.prior, tau)
    return search_point(weight, tau, data.gold, decode_documents(mixed, data.id2tag, data.decoder), data.objective)


def best(points: Sequence[dict[str, float]]) -> dict[str, float] | None:
    """The point of highest objective, the first of equals; None for no points."""
    return max(points, key=lambda point: point["objective"], default=None)


def combine_runs(config: CombineConfig, transformer_dir: Path, crf_dir: Path) -> Path:
    """Choose the weight and prior correction on validation, record the combined run and its levers;
    return its directory."""
    prepared = prepared_with_test(config.output_dir)
    transformer_config = check_part(transformer_dir, prepared)
    check_part(crf_dir, prepared)
    if RunFolder(transformer_dir).combined.exists() or not (RunFolder(transformer_dir).model / "config.json").exists():
        raise ConfigError(f"--run {transformer_dir} is not a transformer run")
    started = time.perf_counter()
    transformer = TransformerTagger.load(transformer_dir, "fp32")
    crf = CRFTagger.load(crf_dir)
    batch_size = int(transformer_config["train"].get("eval_batch_size", 32))
    words = {part: [d.words for d in prepared.parts[part]] for part in EVAL_PARTS}
    gold = {part: [d.tags for d in prepared.parts[part]] for part in EVAL_PARTS}
    soft = {part: transformer.predict_proba(words[part], batch_size) for part in EVAL_PARTS}
    marginals = {part: crf.predict_proba(words[part]) for part in EVAL_PARTS}
    prior = tag_prior((d.tags for d in prepared.parts["train"]), prepared.tag2id)

    def combined(part: str, weight: float, tau: float) -> list[tuple[list[str], list[float]]]:
        return decode_documents(
            combine_documents(soft[part], marginals[part], weight, prior, tau), prepared.id2tag, config.decoder
        )

    candidates = [(weight, tau) for tau in config.prior_taus for weight in config.weights]
    data = SearchData(
        soft["validation"],
        marginals["validation"],
        prior,
        prepared.id2tag,
        config.decoder,
        gold["validation"],
        config.objective,
    )
    search = map_in_order(score_candidate, candidates, worker_count(config.workers, len(candidates)), data)
    chosen = best(search)
    assert chosen is not None  # both grids checked non-empty above
    prior_levers = {
        lever: {"weight": point["weight"], "tau": point["tau"]}
        for lever, point in (
            ("combined-no-prior", best([p for p in search if p["tau"] == 0.0])),
            ("combined-prior", best([p for p in search if p["tau"] > 0.0])),
        )
        if point is not None
    }
    seconds = time.perf_counter() - started
    seed = seed_of_part(transformer_config)
    name = run_name(MODEL_NAME, f"seed{seed}" if seed is not None else None)
    run = open_run(config.output_dir, name, MODEL_NAME, dataclasses.asdict(config), prepared, config.wandb)
    CombinedTagger(
        transformer, crf, chosen["weight"], prior, chosen["tau"], config.decoder, transformer_dir, crf_dir
    ).save(run.folder.path)
    levers: dict[str, Callable[[str], list[tuple[list[str], list[float]]]]] = {
        "transformer-argmax": lambda part: decode_documents(soft[part], prepared.id2tag, "argmax"),
        "transformer-viterbi": lambda part: decode_documents(soft[part], prepared.id2tag, "viterbi"),
        "crf-viterbi": lambda part: decode_documents(marginals[part], prepared.id2tag, "viterbi"),
        **{
            lever: functools.partial(combined, weight=point["weight"], tau=point["tau"])
            for lever, point in prior_levers.items()
        },
    }
    for lever, predict_part in levers.items():
        for part in EVAL_PARTS:
            records = [
                prediction_record(d.id, d.words, d.tags, tags, confidence)
                for d, (tags, confidence) in zip(prepared.parts[part], predict_part(part))
            ]
            write_lever_predictions(run.folder.path, lever, part, records)
    parts_metrics = {name: read_metrics(path) for name, path in (("transformer", transformer_dir), ("crf", crf_dir))}

    def predict(documents: Sequence[Sequence[str]]) -> Any:
        """close_run asks for each part in turn: the distributions computed above, not a second pass."""
        part = next(p for p in EVAL_PARTS if [list(w) for w in documents] == words[p])
        return combined(part, chosen["weight"], chosen["tau"])

    def details() -> dict[str, Any]:
        return {
            "epochs": [],
            "weight_search": search,
            "selected_weight": chosen["weight"],
            "selected_tau": chosen["tau"],
            "objective": config.objective,
            "prior_levers": prior_levers,
            "decoder": config.decoder,
            "parts": {"transformer": transformer_dir.name, "crf": crf_dir.name},
            "combine_seconds": seconds,
            "train_seconds": seconds + sum(float(m.get("train_seconds") or 0.0) for m in parts_metrics.values()),
            "peak_memory_mb": max(float(m.get("peak_memory_mb") or 0.0) for m in parts_metrics.values()),
            "peak_memory_kind": parts_metrics["transformer"].get("peak_memory_kind"),
            "parameters": sum(int(m.get("parameters") or 0) for m in parts_metrics.values()),
            "long_docs": transformer_config["train"].get("long_docs"),
            "transformer_seed": seed,
        }

    return close_run(run, MODEL_NAME, prepared, predict, details, config.wandb_log_text)
