"""`python -m benchmarks.training_levers`: what each cheaper-training lever buys here, as speed ratios.

A shared machine makes absolute seconds noisy, so each lever is timed against its baseline in
interleaved rounds (baseline, lever, baseline, lever, ...) on the same batches of real windows with
the real model, and the speed-up of every round is reported as median and min-max (one JSON line
per lever, printed as soon as it is measured):

- padding: the share of padded positions in randomly drawn and in length-grouped batches (the
  Trainer's `LengthGroupedSampler`), counted;
- precision: optimisation steps in fp32 against bf16 autocast;
- grouping: bf16 steps on randomly drawn batches against length-grouped batches;
- evaluation: a validation pass in fp32 at `eval_batch_size` against bf16 under `inference_mode`
  at twice that batch.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pipeline.config import PROFILES, TrainConfig, make_config
from pipeline.data.prepare import load_prepared
from pipeline.modeling.features import make_collator
from pipeline.modeling.trainer import build_features, load_model, load_tokenizer, make_optimizer, model_max_length

Batch = dict[str, Any]


def random_batches(features: Sequence[dict], batch_size: int, seed: int) -> list[list[dict]]:
    order = list(range(len(features)))
    random.Random(seed).shuffle(order)
    return [[features[i] for i in order[start : start + batch_size]] for start in range(0, len(order), batch_size)]


def grouped_batches(features: Sequence[dict], batch_size: int, seed: int) -> list[list[dict]]:
    """Batches in the order the Trainer's length-grouped sampler draws them."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    lengths = [len(f["input_ids"]) for f in features]
    order = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=torch.Generator().manual_seed(seed)))
    return [[features[i] for i in order[start : start + batch_size]] for start in range(0, len(order), batch_size)]


def padded_share(batches: Sequence[Sequence[dict]]) -> float:
    """Share of the positions computed that are padding under dynamic padding."""
    real = sum(len(f["input_ids"]) for batch in batches for f in batch)
    total = sum(len(batch) * max(len(f["input_ids"]) for f in batch) for batch in batches)
    return 1 - real / total


def timed(work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def interleaved(baseline: Callable[[], None], lever: Callable[[], None], rounds: int) -> dict[str, Any]:
    """Speed-up of `lever` over `baseline` per round (baseline seconds / lever seconds)."""
    ratios, seconds = [], []
    for _ in range(rounds):
        base, fast = timed(baseline), timed(lever)
        ratios.append(base / fast)
        seconds.append({"baseline": round(base, 2), "lever": round(fast, 2)})
    return {
        "median": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "seconds": seconds,
    }


LEVERS = ("padding", "precision", "grouping", "evaluation")


def measure_levers(
    config: TrainConfig, rounds: int, steps: int, levers: Sequence[str] = LEVERS
) -> Iterator[tuple[str, Any]]:
    """(lever, result) pairs, each as soon as it is measured, on the prepared data under
    `config.output_dir`: the padded shares first (counted, not timed), then the interleaved ratios."""
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    prepared = load_prepared(config.output_dir)
    tokenizer = load_tokenizer(config.model)
    model = load_model(config.model, prepared.tag2id)
    max_length = model_max_length(model, config.max_length)
    _, train = build_features(tokenizer, prepared.parts["train"], prepared.tag2id, config, max_length)
    _, validation = build_features(tokenizer, prepared.parts["validation"], prepared.tag2id, config, max_length)
    collate = make_collator(tokenizer)
    optimizer = make_optimizer(model, config.lr[0], config.head_lr, config.weight_decay)
    shuffled = random_batches(train, config.batch_size, config.seed)
    grouped = grouped_batches(train, config.batch_size, config.seed)

    def train_steps(batches: Sequence[Sequence[dict]], bf16: bool) -> Callable[[], None]:
        def run() -> None:
            model.train()
            for batch in batches[:steps]:
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = model(**collate(list(batch))).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()

        return run

    def evaluation(batch_size: int, bf16: bool) -> Callable[[], None]:
        def run() -> None:
            model.eval()
            context = torch.inference_mode() if bf16 else torch.no_grad()
            with context, torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                for start in range(0, len(validation), batch_size):
                    batch = collate(validation[start : start + batch_size])
                    model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float().softmax(-1)

        return run

    yield (
        "setup",
        {
            "rounds": rounds,
            "steps_per_round": steps,
            "batch_size": config.batch_size,
            "max_length": max_length,
            "train_windows": len(train),
            "validation_windows": len(validation),
            "threads": torch.get_num_threads(),
        },
    )
    arms = {
        "padding": lambda: {"random": round(padded_share(shuffled), 4), "grouped": round(padded_share(grouped), 4)},
        "precision": lambda: interleaved(train_steps(shuffled, False), train_steps(shuffled, True), rounds),
        "grouping": lambda: interleaved(train_steps(shuffled, True), train_steps(grouped, True), rounds),
        "evaluation": lambda: interleaved(
            evaluation(config.eval_batch_size, False), evaluation(2 * config.eval_batch_size, True), rounds
        ),
    }
    for lever in levers:
        yield lever, arms[lever]()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training_levers", description=__doc__)
    parser.add_argument("--output-dir", default="outputs", help="root holding the prepared data/")
    parser.add_argument("--profile", default="cpu", choices=tuple(PROFILES), help="training profile measured")
    parser.add_argument("--model", default=None, help="model measured (default: the profile's)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per lever")
    parser.add_argument("--steps", type=int, default=20, help="optimisation steps per round and arm")
    parser.add_argument(
        "--levers", default=",".join(LEVERS), help=f"comma-separated, measured in this order ({', '.join(LEVERS)})"
    )
    args = parser.parse_args(argv)
    levers = [lever for lever in args.levers.split(",") if lever]
    unknown = sorted(set(levers) - set(LEVERS))
    if unknown:
        parser.error(f"unknown lever {', '.join(unknown)}; choose from {', '.join(LEVERS)}")
    overrides = {"output_dir": args.output_dir, **({"model": args.model} if args.model else {})}
    config = make_config(TrainConfig, args.profile, **overrides)
    for lever, result in measure_levers(config, args.rounds, args.steps, levers):
        print(json.dumps({lever: result}), flush=True)  # one line per lever: a noisy, slow run keeps what it measured
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
