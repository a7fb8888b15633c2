"""Pure functions from engine outputs to answers: activation, ranking, pooling maths.

No I/O, no model state: numpy in, numpy or plain values out, so each is unit-tested alone.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .types import LabelScore, RankedDocument


def sigmoid(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    # Split by sign so exp never overflows.
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    shifted = x - x.max(axis=axis, keepdims=True)
    ex = np.exp(shifted)
    return ex / ex.sum(axis=axis, keepdims=True)


def activate(logits: np.ndarray, *, raw: bool) -> np.ndarray:
    """[n, labels] logits → scores: sigmoid for one label, softmax for several, or raw."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim == 1:
        logits = logits[:, None]
    if raw:
        return logits
    return sigmoid(logits) if logits.shape[1] == 1 else softmax(logits, axis=1)


def relevance(logits: np.ndarray, *, raw: bool) -> np.ndarray:
    """One relevance score per row. Multi-label rerankers use the last label (the positive one)."""
    scores = activate(logits, raw=raw)
    return scores[:, -1]


def rank(
    scores: Sequence[float],
    *,
    top_n: int | None = None,
    texts: Sequence[str] | None = None,
) -> list[RankedDocument]:
    """Stable sort by score, descending (ties keep input order); cut to top_n."""
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    if top_n is not None:
        order = order[: max(top_n, 0)]
    return [
        RankedDocument(index=i, score=float(scores[i]), text=texts[i] if texts is not None else None) for i in order
    ]


def label_scores(scores: np.ndarray, labels: Sequence[str]) -> list[list[LabelScore]]:
    """Per input, every label with its score, sorted descending (stable)."""
    out = []
    for row in np.asarray(scores):
        order = sorted(range(len(row)), key=lambda j: -float(row[j]))
        out.append([LabelScore(label=labels[j], score=float(row[j])) for j in order])
    return out


def max_by_group(values: np.ndarray, groups: Sequence[int], n_groups: int) -> np.ndarray:
    """Max of `values` per group id (chunk-and-max for long documents)."""
    out = np.full(n_groups, -np.inf)
    np.maximum.at(out, np.asarray(groups, dtype=np.int64), np.asarray(values, dtype=np.float64))
    return out


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def truncate_dimensions(x: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Matryoshka: keep the first `dimensions` components (normalize after, if asked)."""
    if dimensions is None or dimensions >= x.shape[-1]:
        return x
    return x[..., :dimensions]


def cosine_scores(query: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Cosine similarity of one query vector against each document vector."""
    return l2_normalize(docs) @ l2_normalize(query[None, :])[0]
