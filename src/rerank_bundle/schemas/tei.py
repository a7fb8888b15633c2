"""TEI / Baseten BEI native formats: `/rerank`, `/predict`, `/embed`.

`/rerank` answers a bare JSON array (baseten-performance-client needs it); `/predict`
answers one list for a single input and a nested list for a batch, as TEI does.
"""
from __future__ import annotations

from typing import List, Optional, Union

from pydantic import Field
from typing_extensions import NotRequired, TypedDict

from ..errors import ValidationError
from ..types import EmbedRequest, EmbedResult, PredictRequest, PredictResult, RerankRequest, RerankResult
from .base import TruncatingModel, WireContext, WireRoute


class RerankBody(TruncatingModel):
    query: str
    texts: List[str]
    raw_scores: bool = False
    return_text: bool = False
    top_n: Optional[int] = None


class RankItem(TypedDict):
    index: int
    score: float
    text: NotRequired[str]


def rerank_to_internal(body: RerankBody, ctx: WireContext) -> RerankRequest:
    return RerankRequest(
        query=body.query, documents=body.texts, top_n=body.top_n, raw_scores=body.raw_scores,
        return_text=body.return_text, truncation=body.truncation(ctx),
    )


def rerank_to_wire(body: RerankBody, result: RerankResult, ctx: WireContext) -> list[RankItem]:
    if body.return_text:
        return [{"index": r.index, "score": r.score, "text": r.text or ""} for r in result.results]
    return [{"index": r.index, "score": r.score} for r in result.results]


# `"s"` is one text, `["a", "b"]` ONE pair, `[["s"], ["a", "b"], "t"]` a batch (TEI's rules).
PredictInputs = Union[str, List[Union[str, List[str]]]]


class PredictBody(TruncatingModel):
    inputs: PredictInputs
    raw_scores: bool = False


class LabelItem(TypedDict):
    label: str
    score: float


def _is_single(inputs: PredictInputs) -> bool:
    return isinstance(inputs, str) or (len(inputs) == 2 and all(isinstance(x, str) for x in inputs))


def predict_inputs(inputs: PredictInputs) -> list[tuple[str] | tuple[str, str]]:
    if isinstance(inputs, str):
        return [(inputs,)]
    if _is_single(inputs):
        return [(inputs[0], inputs[1])]  # type: ignore[list-item]
    out: list[tuple[str] | tuple[str, str]] = []
    for i, item in enumerate(inputs):
        if isinstance(item, str):
            out.append((item,))
        elif len(item) in (1, 2):
            out.append(tuple(item))  # type: ignore[arg-type]
        else:
            raise ValidationError(f"inputs[{i}] must be one text or a pair of texts, got {len(item)} texts")
    return out


def predict_to_internal(body: PredictBody, ctx: WireContext) -> PredictRequest:
    return PredictRequest(inputs=predict_inputs(body.inputs), raw_scores=body.raw_scores, truncation=body.truncation(ctx))


def predict_to_wire(body: PredictBody, result: PredictResult, ctx: WireContext) -> list:
    rows = [[{"label": p.label, "score": p.score} for p in row] for row in result.predictions]
    return rows[0] if _is_single(body.inputs) else rows


class EmbedBody(TruncatingModel):
    inputs: Union[str, List[str]]
    normalize: bool = True
    dimensions: Optional[int] = Field(default=None, description="Matryoshka: keep the first N components.")


def embed_to_internal(body: EmbedBody, ctx: WireContext) -> EmbedRequest:
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    return EmbedRequest(texts=texts, normalize=body.normalize, dimensions=body.dimensions, truncation=body.truncation(ctx))


def embed_to_wire(body: EmbedBody, result: EmbedResult, ctx: WireContext) -> list[list[float]]:
    return result.embeddings


ROUTES = (
    WireRoute(
        path="/rerank", body=RerankBody, to_internal=rerank_to_internal, to_wire=rerank_to_wire, family="TEI",
        summary="Rank `texts` against `query` (TEI/BEI); answers a bare array sorted by score.",
        response_schema=List[RankItem],
    ),
    WireRoute(
        path="/predict", body=PredictBody, to_internal=predict_to_internal, to_wire=predict_to_wire, family="TEI",
        summary="Classify texts or text pairs (TEI/BEI); label scores sorted descending.",
        response_schema=Union[List[LabelItem], List[List[LabelItem]]],
    ),
    WireRoute(
        path="/embed", body=EmbedBody, to_internal=embed_to_internal, to_wire=embed_to_wire, family="TEI",
        summary="Embed texts (TEI); one vector per input.", response_schema=List[List[float]],
    ),
)
