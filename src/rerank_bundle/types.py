"""Internal request and result types: what every wire format is converted to and from.

Routes build these from their schemas; the service answers with these; converters in
`schemas/` turn the answers back into each wire format. No untyped dicts cross layers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Sequence


class ModelKind(str, Enum):
    RERANK = "rerank"
    CLASSIFY = "classify"
    EMBED = "embed"


class TruncationDirection(str, Enum):
    RIGHT = "right"
    LEFT = "left"

    @classmethod
    def parse(cls, value: "str | TruncationDirection | None") -> "TruncationDirection":
        """Accept any case ("Left", "LEFT", "left"); None means the default, right."""
        if value is None:
            return cls.RIGHT
        if isinstance(value, TruncationDirection):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(f"truncation_direction must be 'Left' or 'Right', got {value!r}") from None


@dataclass(frozen=True, kw_only=True)
class TruncationOptions:
    """How over-long inputs are handled. `truncate=False` turns them into a 422."""

    truncate: bool = True
    direction: TruncationDirection = TruncationDirection.RIGHT


@dataclass(frozen=True, kw_only=True)
class Timings:
    """Where a request's time went (TEI's x-*-time headers and the metrics)."""

    tokenization_seconds: float = 0.0
    queue_seconds: float = 0.0
    inference_seconds: float = 0.0


@dataclass(frozen=True, kw_only=True)
class RerankRequest:
    query: str
    documents: Sequence[str]
    top_n: int | None = None
    raw_scores: bool = False
    return_text: bool = False
    truncation: TruncationOptions = field(default_factory=TruncationOptions)
    # Cohere v1: split long documents into chunks, score = max over chunks.
    max_chunks_per_doc: int | None = None
    # Cohere v2 / vLLM: cut every document to this many tokens first.
    max_tokens_per_doc: int | None = None


@dataclass(frozen=True, kw_only=True)
class RankedDocument:
    index: int
    score: float
    text: str | None = None


@dataclass(frozen=True, kw_only=True)
class PredictRequest:
    """Each input is one text or one (text, text_pair)."""

    inputs: Sequence[tuple[str] | tuple[str, str]]
    raw_scores: bool = False
    truncation: TruncationOptions = field(default_factory=TruncationOptions)


@dataclass(frozen=True, kw_only=True)
class LabelScore:
    label: str
    score: float


@dataclass(frozen=True, kw_only=True)
class EmbedRequest:
    texts: Sequence[str]
    normalize: bool = True
    dimensions: int | None = None
    truncation: TruncationOptions = field(default_factory=TruncationOptions)


@dataclass(frozen=True, kw_only=True)
class EmbedResult:
    embeddings: list[list[float]]
    prompt_tokens: int
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True, kw_only=True)
class ScoreRequest:
    """vLLM /score: text_1 against text_2, 1→N or N↔N. Scores are always activated."""

    text_1: Sequence[str]
    text_2: Sequence[str]
    truncation: TruncationOptions = field(default_factory=TruncationOptions)


@dataclass(frozen=True, kw_only=True)
class ScoreResult:
    scores: list[float]
    prompt_tokens: int
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True, kw_only=True)
class RerankResult:
    """Ranked documents (sorted, cut to top_n) plus the tokens spent, for usage/billing."""

    results: list[RankedDocument]
    prompt_tokens: int
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True, kw_only=True)
class PredictResult:
    """One list of label scores per input, each sorted by score, descending."""

    predictions: list[list[LabelScore]]
    prompt_tokens: int
    timings: Timings = field(default_factory=Timings)
