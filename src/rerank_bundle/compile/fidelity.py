"""Fidelity of a built engine against the torch fp32 forward on the built-in evaluation set.

Scores are compared the way a client sees them: activated (sigmoid for one label, softmax
for several) for cross-encoders and classifiers, cosine(query, document) for embedders,
which are also compared vector by vector (cosine to the fp32 embedding). Ranking agreement
is measured per query over 16 candidates: Spearman ρ, top-1 and top-10 overlap.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..engines.base import ModelInputs
from ..loading import ModelSpec
from ..postprocess import activate, l2_normalize
from ..tokenization import TextTokenizer
from ..types import ModelKind, TruncationOptions
from .calibration import QueryGroup, collate, evaluation_groups, load_tokenizer

Forward = Callable[[ModelInputs], np.ndarray]
_CUT = TruncationOptions(truncate=True)


@dataclass(frozen=True)
class FidelityGate:
    """What an artifact must reach to be used when precision is `auto`."""

    max_abs_delta: float = 2e-2  # activated score (or cosine score for embedders)
    min_cosine: float = 0.99  # embedders: each vector against its fp32 twin
    min_top10: float = 0.9  # mean top-10 overlap with the fp32 ranking


@dataclass(frozen=True)
class Fidelity:
    pairs: int
    max_abs_delta: float
    mean_abs_delta: float
    spearman: float
    top1_agreement: float
    top10_agreement: float
    score_spread: float  # std of the fp32 scores: near 0 means ranking metrics say little
    min_cosine: float | None = None
    mean_cosine: float | None = None

    def passes(self, gate: FidelityGate = FidelityGate()) -> bool:
        if not self.max_abs_delta <= gate.max_abs_delta or not self.top10_agreement >= gate.min_top10:
            return False
        return self.min_cosine is None or self.min_cosine >= gate.min_cosine

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Fidelity":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})  # type: ignore[arg-type]

    def summary(self) -> str:
        text = (
            f"max |Δ| {self.max_abs_delta:.4f}, ρ {self.spearman:.4f}, top-1 {self.top1_agreement:.2f}, "
            f"top-10 {self.top10_agreement:.2f}"
        )
        return text + (f", min cos {self.min_cosine:.5f}" if self.min_cosine is not None else "")


@dataclass(frozen=True)
class GroupOutputs:
    """Per query group: the scores a client would rank by, plus raw vectors/probabilities."""

    scores: list[np.ndarray]
    rows: list[np.ndarray]


def run_groups(spec: ModelSpec, forward: Forward, *, groups: list[QueryGroup], tokenizer: TextTokenizer) -> GroupOutputs:
    scores, rows = [], []
    for group in groups:
        if spec.kind is ModelKind.EMBED:
            items = tokenizer.encode_texts([group.query, *group.documents], truncation=_CUT)
        else:
            items = tokenizer.encode_text_pairs([(group.query, d) for d in group.documents], truncation=_CUT)
        out = np.asarray(forward(collate(items, tokenizer.pad_token_id, spec.uses_token_type_ids)), dtype=np.float32)
        group_score, group_rows = score_rows(spec.kind, out)
        scores.append(group_score)
        rows.append(group_rows)
    return GroupOutputs(scores=scores, rows=rows)


def score_rows(kind: ModelKind, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What a client ranks by, and the rows compared: for embedders the query (first row)
    against each document by cosine, with unit vectors; else activated probabilities."""
    if kind is ModelKind.EMBED:
        unit = l2_normalize(out)
        return unit[1:] @ unit[0], unit
    probs = activate(out, raw=False)
    return probs[:, -1], probs


def compare(reference: GroupOutputs, candidate: GroupOutputs, *, kind: ModelKind) -> Fidelity:
    deltas = np.concatenate([np.abs(r - c).ravel() for r, c in zip(reference.scores, candidate.scores)])
    rho = [spearman(r, c) for r, c in zip(reference.scores, candidate.scores)]
    top1 = [float(np.argmax(r) == np.argmax(c)) for r, c in zip(reference.scores, candidate.scores)]
    top10 = [topk_overlap(r, c, 10) for r, c in zip(reference.scores, candidate.scores)]
    cosines = None
    if kind is ModelKind.EMBED:
        cosines = np.concatenate([(r * c).sum(axis=1) for r, c in zip(reference.rows, candidate.rows)])
    else:  # every label's probability counts, not only the ranking column
        deltas = np.concatenate([deltas] + [np.abs(r - c).ravel() for r, c in zip(reference.rows, candidate.rows)])
    return Fidelity(
        pairs=sum(len(s) for s in reference.scores),
        max_abs_delta=float(deltas.max()),
        mean_abs_delta=float(deltas.mean()),
        spearman=float(np.mean(rho)),
        top1_agreement=float(np.mean(top1)),
        top10_agreement=float(np.mean(top10)),
        score_spread=float(np.concatenate(reference.scores).std()),
        min_cosine=float(cosines.min()) if cosines is not None else None,
        mean_cosine=float(cosines.mean()) if cosines is not None else None,
    )


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return 1.0 if np.array_equal(ra, rb) else 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (what scipy.stats.rankdata does by default)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    for value in np.unique(x):
        tied = x == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return ranks


def topk_overlap(reference: np.ndarray, candidate: np.ndarray, k: int) -> float:
    k = min(k, len(reference))
    return len(set(np.argsort(-reference)[:k]) & set(np.argsort(-candidate)[:k])) / k


class FidelityProbe:
    """Holds the fp32 reference for one spec, so several artifacts are compared to one run."""

    def __init__(self, spec: ModelSpec, *, groups: int | None = 8, reference: Forward | None = None) -> None:
        self.spec = spec
        self.groups = evaluation_groups(groups)
        self.tokenizer = load_tokenizer(spec)
        self._reference_forward = reference
        self._reference: GroupOutputs | None = None

    @property
    def reference(self) -> GroupOutputs:
        if self._reference is None:
            forward = self._reference_forward or _torch_fp32(self.spec)
            self._reference = run_groups(self.spec, forward, groups=self.groups, tokenizer=self.tokenizer)
        return self._reference

    def measure(self, forward: Forward) -> Fidelity:
        candidate = run_groups(self.spec, forward, groups=self.groups, tokenizer=self.tokenizer)
        return compare(self.reference, candidate, kind=self.spec.kind)


def _torch_fp32(spec: ModelSpec) -> Forward:
    from ..config import Precision
    from ..engines.torch_engine import TorchEngine

    return TorchEngine(spec, device="cpu", precision=Precision.FP32).forward
