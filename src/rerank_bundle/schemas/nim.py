"""NVIDIA NIM `/v1/ranking`: `{"query": {"text"}, "passages": [{"text"}]}` → `{"rankings": [{"index", "logit"}]}`.

NIM returns raw logits (cosine similarity for an embedding model), sorted descending.
`truncate` is "NONE" (too long is an error) or "END" (cut at the end).
"""
from __future__ import annotations

from typing import List, Literal, Optional

from typing_extensions import TypedDict

from ..types import RerankRequest, RerankResult, TruncationDirection, TruncationOptions
from .base import LenientModel, WireContext, WireModel, WireRoute


class TextObject(LenientModel):
    text: str


class RankingBody(WireModel):
    query: TextObject
    passages: List[TextObject]
    truncate: Optional[Literal["NONE", "END"]] = None
    top_n: Optional[int] = None


class RankingItem(TypedDict):
    index: int
    logit: float


class RankingObject(TypedDict):
    rankings: List[RankingItem]


def to_internal(body: RankingBody, ctx: WireContext) -> RerankRequest:
    truncate = ctx.truncate_default if body.truncate is None else body.truncate == "END"
    return RerankRequest(
        query=body.query.text, documents=[p.text for p in body.passages], top_n=body.top_n, raw_scores=True,
        truncation=TruncationOptions(truncate=truncate, direction=TruncationDirection.RIGHT),
    )


def to_wire(body: RankingBody, result: RerankResult, ctx: WireContext) -> RankingObject:
    return {"rankings": [{"index": r.index, "logit": r.score} for r in result.results]}


ROUTES = (
    WireRoute(
        path="/v1/ranking", body=RankingBody, to_internal=to_internal, to_wire=to_wire, family="NIM",
        summary="NVIDIA NIM ranking: raw logits, sorted descending.", response_schema=RankingObject,
    ),
)
