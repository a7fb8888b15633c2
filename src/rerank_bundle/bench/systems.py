"""Systems under test. Each scores one query against documents and returns one activated
score per document, in input order, so speed and fidelity are measured the same way."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np


class System(Protocol):
    name: str
    precision: str

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray: ...

    def close(self) -> None: ...


class CrossEncoderSystem:
    """sentence-transformers CrossEncoder.predict: the baseline users start from."""

    name, precision = "sentence-transformers CrossEncoder", "fp32"

    def __init__(self, model_dir: Path, *, batch_size: int = 32) -> None:
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(str(model_dir), device="cpu", max_length=512)
        self._batch_size = batch_size

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        pairs = [(query, d) for d in documents]
        return np.asarray(self._model.predict(pairs, batch_size=self._batch_size, show_progress_bar=False), dtype=np.float64)

    def close(self) -> None:
        self._model = None


class EagerTransformersSystem:
    """Plain transformers, eager attention, fixed batches in input order."""

    name, precision = "transformers eager", "fp32"

    def __init__(self, model_dir: Path, *, batch_size: int = 32) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._torch = torch
        self._tok = AutoTokenizer.from_pretrained(str(model_dir))
        self._model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), attn_implementation="eager").eval()
        self._batch_size = batch_size

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        out = []
        with self._torch.inference_mode():
            for i in range(0, len(documents), self._batch_size):
                chunk = list(documents[i : i + self._batch_size])
                enc = self._tok([query] * len(chunk), chunk, padding=True, truncation="only_second", max_length=512, return_tensors="pt")
                out.append(self._torch.sigmoid(self._model(**enc).logits[:, 0]).numpy())
        return np.concatenate(out).astype(np.float64)

    def close(self) -> None:
        self._model = None


class RuntimeSystem:
    """rerank-bundle's Reranker with a given engine and precision, through the batcher."""

    def __init__(self, model_dir: Path, *, engine: str, precision: str) -> None:
        from rerank_bundle.service import Reranker

        self._ranker = Reranker.load(str(model_dir), engine=engine, precision=precision)
        self.name = f"rerank-bundle {self._ranker.engine.name}"
        self.precision = self._ranker.engine.dtype
        self.engine_detail = self._ranker.report.as_dict()

    @property
    def first_token_last_layer(self) -> bool:
        """Whether the engine's module computes the last layer for token 0 only (torch engines say)."""
        return bool(getattr(self._ranker.engine, "first_token_last_layer", False))

    def token_counts(self, query: str, documents: Sequence[str]) -> list[int]:
        from rerank_bundle.types import TruncationOptions

        items = self._ranker.tokenizer.encode_pairs(query, documents, truncation=TruncationOptions())
        return [len(it) for it in items]

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        ranked = self._ranker.rerank(query, documents)
        scores = np.empty(len(documents))
        for r in ranked:
            scores[r.index] = r.score
        return scores

    def close(self) -> None:
        self._ranker.close()


@dataclass
class Timing:
    latencies: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.latencies)


def time_calls(call: Callable[[], object], *, min_runs: int, min_seconds: float, warmup: int = 1) -> Timing:
    """Run `call` until both `min_runs` and `min_seconds` are reached, after warm-up."""
    for _ in range(warmup):
        call()
    timing = Timing()
    start = time.perf_counter()
    while len(timing.latencies) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        call()
        timing.latencies.append(time.perf_counter() - t0)
    return timing


def top_k_agreement(reference: np.ndarray, candidate: np.ndarray, k: int) -> float:
    """Share of the reference's top-k documents that are also in the candidate's top-k."""
    k = min(k, len(reference))
    ref = set(np.argsort(-reference, kind="stable")[:k].tolist())
    cand = set(np.argsort(-candidate, kind="stable")[:k].tolist())
    return len(ref & cand) / k
