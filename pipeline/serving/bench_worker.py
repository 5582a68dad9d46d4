"""One bench subject (a variant of a run, or the plain transformers pipeline) in its own process.

`bench` starts one worker per subject (`python -m pipeline.serving.bench_worker`) and talks to it in
JSON lines on stdin/stdout, so each subject's peak memory is its own process's (no subject's figure
holds what another left behind) and the coordinator can interleave timing rounds between subjects
that all stay loaded. Messages, one reply each:

    {"op": "start", "kind", "run", "variant", "windows": [max_length, overlap] | null, "device",
     "threads", "sample_docs"}                        -> {"device", "batched", "facts"}
    {"op": "score", "parts": [...], "batch_size"}      -> {"f1": {part: micro F1}, "truncated": {part: n}}
    {"op": "time", "batch_sizes": [...]}               -> {"seconds": {batch: s}, "latency_ms": [per doc]}
    {"op": "sample", "documents": n}                   -> {"facts"} of the sample cut to its first n documents
    {"op": "memory"}                                   -> {"peak_memory_mb"}
    {"op": "exit"}
A failure replies {"error": message}. Batch 1 is timed one document at a time (latency); a larger
batch size is one call over the whole sample.

`RUNNERS` maps a subject kind to the function that loads it: a new kind of run needs one more entry
there and in `pipeline.serving.bench_pool.run_kind`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.layout import RunFolder, has_predictions, read_predictions
from pipeline.core.scoring import strict_scores
from pipeline.core.tags import OUTSIDE

Documents = list[list[str]]
REFERENCE_NAME = 'transformers pipeline("token-classification", aggregation_strategy="simple")'
REFERENCE_MAPPING = (
    "text = words joined by one space; a word takes the type of the first entity overlapping its characters; "
    "consecutive words of one entity are B- then I-; others O"
)


@dataclass
class Runner:
    """A loaded subject as the worker times it.

    predict: documents and batch size -> tags per document
    wordpieces: per document (wordpieces read, wordpieces in all); None when the model reads words
    windows: the encoder window widths for the documents; None when there is no encoder
    flops_per_window: multiply-adds x 2 of one window of that width; None when not a transformer
    """

    predict: Callable[[Documents, int], list[list[str]]]
    device: str
    batched: bool = True
    wordpieces: Callable[[Documents], list[tuple[int, int]]] | None = None
    windows: Callable[[Documents], list[int]] | None = None
    flops_per_window: Callable[[int], float] | None = None
    word_cache: Any = None  # a CRF part's words kept across calls (`pipeline.modeling.crf.PartRows`) | None


def encoder_flops(config: Any, n_labels: int) -> Callable[[int], float]:
    """Floating-point operations of a BERT-style encoder over one window of `width` positions:
    per layer the four attention projections and the two feed-forward matrices (2 x multiply-adds
    per position), the attention scores and their weighted sum (4 x width^2 x hidden), and the head."""
    layers, hidden, inner = config.num_hidden_layers, config.hidden_size, config.intermediate_size

    def flops(width: int) -> float:
        per_layer = 2 * width * (4 * hidden * hidden + 2 * hidden * inner) + 4 * width * width * hidden
        return float(layers * per_layer + 2 * width * hidden * n_labels)

    return flops


def transformer_runner(run_dir: Path, variant: str, windows: list[int] | None, device: str) -> Runner:
    """A transformer run, or a combined run (its transformer part in `variant`, with its CRF part), loaded
    as predict loads it."""
    from pipeline.modeling.backends import TransformerTagger, encoder_run
    from pipeline.modeling.crf import crf_weights
    from pipeline.modeling.features import encode_documents, word_pieces
    from pipeline.modeling.mixture import CombinedTagger
    from pipeline.serving.predict import load_predictor

    model = load_predictor(run_dir, variant, (int(windows[0]), int(windows[1])) if windows else None, device)
    assert isinstance(model, (TransformerTagger, CombinedTagger))  # RUNNERS sends these kinds here

    def encoded(documents: Documents) -> list[Any]:
        return encode_documents(model.tokenizer, documents, model.max_length, model.overlap, model.truncate)

    def wordpieces(documents: Documents) -> list[tuple[int, int]]:
        counts = [sum(len(p) for p in word_pieces(model.tokenizer, words)) for words in documents]
        read = [min(c, model.max_length - 2) if model.truncate else c for c in counts]
        return list(zip(read, counts))

    from transformers import AutoConfig

    return Runner(
        predict=lambda documents, batch: [tags for tags, _ in model.predict(documents, batch)],
        device=model.device,
        word_cache=crf_weights(model.crf.crf).parts if isinstance(model, CombinedTagger) else None,
        wordpieces=wordpieces,
        windows=lambda documents: [len(window) for window in encoded(documents)],
        flops_per_window=encoder_flops(
            AutoConfig.from_pretrained(RunFolder(encoder_run(run_dir)).model), len(model.id2tag)
        ),
    )


def crf_runner(run_dir: Path, variant: str, windows: list[int] | None, device: str) -> Runner:
    from pipeline.modeling.crf import CRFTagger, crf_weights
    from pipeline.modeling.tagger import load_tagger

    model = load_tagger(run_dir)
    assert isinstance(model, CRFTagger)  # RUNNERS sends CRF runs here
    return Runner(
        predict=lambda documents, batch: [tags for tags, _ in model.predict(documents, batch)],
        device="cpu",
        batched=False,
        word_cache=crf_weights(model.crf).parts,
    )


def reference_runner(run_dir: Path, variant: str, windows: list[int] | None, device: str) -> Runner:
    """The plain transformers pipeline as a user would call it: texts in, 512-token cut, `batch_size` texts
    per forward pass."""
    from transformers import AutoConfig, pipeline

    from pipeline.modeling.backends import encoder_run
    from pipeline.modeling.features import word_pieces

    model_dir = str(RunFolder(encoder_run(run_dir)).model)  # a combined run: its transformer part
    recognizer = pipeline(
        "token-classification",
        model=model_dir,
        tokenizer=model_dir,
        aggregation_strategy="simple",
        device=0 if device.startswith("cuda") else -1,
    )
    tokenizer = recognizer.tokenizer
    if tokenizer is None:
        raise ValueError(f"{model_dir}: the transformers pipeline loaded no tokenizer")
    limit = tokenizer.model_max_length

    def predict(documents: Documents, batch: int) -> list[list[str]]:
        joined = [joined_text(words) for words in documents]
        found = recognizer([text for text, _ in joined], batch_size=batch)
        return [reference_tags(entities, offsets) for entities, (_, offsets) in zip(found, joined)]

    def wordpieces(documents: Documents) -> list[tuple[int, int]]:
        counts = [sum(len(p) for p in word_pieces(tokenizer, words)) for words in documents]
        return [(min(c, limit - 2), c) for c in counts]  # it cuts at model_max_length

    def widths(documents: Documents) -> list[int]:
        return [read + 2 for read, _ in wordpieces(documents)]

    config = AutoConfig.from_pretrained(model_dir)
    return Runner(
        predict=predict,
        device=device,
        wordpieces=wordpieces,
        windows=widths,
        flops_per_window=encoder_flops(config, config.num_labels),
    )


RUNNERS: dict[str, Callable[[Path, str, list[int] | None, str], Runner]] = {
    "transformer": transformer_runner,
    "combined": transformer_runner,
    "crf": crf_runner,
    "reference": reference_runner,
}


def reference_tags(entities: list[dict[str, Any]], offsets: list[tuple[int, int]]) -> list[str]:
    """Word tags from the pipeline's character-offset entities.

    A word takes the type of the first entity overlapping its characters; consecutive words of one
    entity form one span (B- then I-); a word no entity overlaps is O.
    """
    import numpy as np

    tags = [OUTSIDE] * len(offsets)
    owner: list[int | None] = [None] * len(offsets)
    starts = [start for start, _ in offsets]
    for number, entity in enumerate(entities):
        first = max(0, int(np.searchsorted(starts, entity["start"], side="right")) - 1)
        for word in range(first, len(offsets)):
            start, end = offsets[word]
            if start >= entity["end"]:
                break
            if end > entity["start"] and owner[word] is None:
                owner[word] = number
                continued = word > 0 and owner[word - 1] == number
                tags[word] = ("I-" if continued else "B-") + entity["entity_group"]
    return tags


def joined_text(words: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The words joined by single spaces, and each word's character range in that text."""
    offsets, position = [], 0
    for word in words:
        offsets.append((position, position + len(word)))
        position += len(word) + 1
    return " ".join(words), offsets


def peak_memory_mb(device: str) -> float:
    """This process's peak: resident set high-water mark on CPU, torch's allocator peak on a GPU."""
    if device.startswith("cuda"):
        import torch

        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Subject:
    """The worker's state: the runner and its timing sample."""

    def __init__(self, message: dict[str, Any]) -> None:
        import torch

        if message.get("threads"):
            torch.set_num_threads(int(message["threads"]))
        self.run_dir = Path(message["run"])
        self.runner = RUNNERS[message["kind"]](
            self.run_dir, message["variant"], message.get("windows"), message["device"]
        )
        self.sample = [row["words"] for row in read_predictions(self.run_dir, "test")[: int(message["sample_docs"])]]
        self.cache_start = self.warm_word_cache()

    def warm_word_cache(self) -> Any:
        """A CRF part keeps the words it has scored, and deployment sees a note's words mostly warm: every
        timed pass starts from the cache the validation notes leave (other notes than the sample), never
        from one the sample itself filled in earlier passes; None without a CRF part."""
        cache = self.runner.word_cache
        if cache is None:
            return None
        if has_predictions(self.run_dir, "validation"):
            self.runner.predict([row["words"] for row in read_predictions(self.run_dir, "validation")], 16)
        return cache.snapshot()

    def start_pass(self) -> None:
        if self.cache_start is not None:
            self.runner.word_cache.restore(self.cache_start)

    def facts(self) -> dict[str, Any]:
        """What the sample asks of the model: documents, wordpieces read and in all, encoder positions, FLOPs."""
        runner, sample = self.runner, self.sample
        facts: dict[str, Any] = {"documents": len(sample), "words": sum(len(words) for words in sample)}
        if runner.wordpieces:
            pairs = runner.wordpieces(sample)
            facts.update(wordpieces_read=sum(r for r, _ in pairs), wordpieces=sum(t for _, t in pairs))
        if runner.windows:
            widths = runner.windows(sample)
            facts.update(windows=len(widths), positions=sum(widths))
            if runner.flops_per_window:
                facts["flops"] = sum(runner.flops_per_window(width) for width in widths)
        return facts

    def score(self, parts: list[str], batch_size: int) -> dict[str, Any]:
        f1, truncated, documents = {}, {}, {}
        for part in parts:
            if not has_predictions(self.run_dir, part):
                continue
            rows = read_predictions(self.run_dir, part)
            documents_ = [row["words"] for row in rows]
            predicted = self.runner.predict(documents_, batch_size)
            f1[part] = round(strict_scores([row["gold"] for row in rows], predicted)["micro"]["f1"], 4)
            pairs = self.runner.wordpieces(documents_) if self.runner.wordpieces else []
            truncated[part] = sum(read < total for read, total in pairs)
            documents[part] = len(rows)
        return {"f1": f1, "truncated": truncated, "documents": documents}

    def time(self, batch_sizes: list[int]) -> dict[str, Any]:
        seconds: dict[str, float] = {}
        latency: list[float] = []
        for batch in batch_sizes if self.runner.batched else [1]:
            self.start_pass()
            if batch == 1:
                for words in self.sample:
                    start = time.perf_counter()
                    self.runner.predict([words], 1)
                    latency.append(1000 * (time.perf_counter() - start))
                seconds["1"] = sum(latency) / 1000
            else:
                start = time.perf_counter()
                self.runner.predict(self.sample, batch)
                seconds[str(batch)] = time.perf_counter() - start
        return {"seconds": seconds, "latency_ms": latency}


def serve(lines: Any, out: Any) -> None:
    subject: Subject | None = None
    for line in lines:
        message = json.loads(line)
        op = message["op"]
        if op == "exit":
            return
        try:
            if op == "start":
                subject = Subject(message)
                reply: dict[str, Any] = {
                    "device": subject.runner.device,
                    "batched": subject.runner.batched,
                    "facts": subject.facts(),
                }
            elif subject is None:
                raise ValueError(f"bench worker: {op!r} before 'start'")
            elif op == "score":
                reply = subject.score(message["parts"], int(message["batch_size"]))
            elif op == "time":
                reply = subject.time([int(b) for b in message["batch_sizes"]])
            elif op == "sample":
                subject.sample = subject.sample[: int(message["documents"])]
                reply = {"facts": subject.facts()}
            elif op == "memory":
                reply = {"peak_memory_mb": peak_memory_mb(subject.runner.device)}
            else:
                raise ValueError(f"bench worker: unknown op {op!r}")
        except Exception as exc:  # the coordinator raises it with this worker's log
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    protocol = sys.stdout
    sys.stdout = sys.stderr  # library prints must not corrupt the JSON lines
    serve(sys.stdin, protocol)
