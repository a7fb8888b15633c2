"""Cohere rerank formats: v1 (also Jina's), v2 (also vLLM's and aiperf's) and OVMS's v3.

All three answer the same object: `{"id", "results": [{"index", "relevance_score",
"document"?}], "meta"}` plus `model` and `usage`. Scores are always activated to [0, 1].
"""
from __future__ import annotations

import math
import uuid
from typing import Any, Dict, List, Optional, Union

from pydantic import Field
from typing_extensions import NotRequired, TypedDict

from ..errors import ValidationError
from ..types import RerankRequest, RerankResult, TruncationOptions
from .base import WireContext, WireModel, WireRoute, unit_interval

Document = Union[str, Dict[str, Any]]


class V1Body(WireModel):
    query: str
    documents: List[Document]
    top_n: Optional[int] = None
    return_documents: bool = False
    rank_fields: Optional[List[str]] = Field(default=None, description="Fields of object documents to rank on, in order.")
    max_chunks_per_doc: int = Field(default=10, description="Long documents are split; a document scores its best chunk.")


class V2Body(WireModel):
    query: str
    documents: List[Document]
    top_n: Optional[int] = None
    max_tokens_per_doc: int = Field(default=4096, description="Each document is cut to this many tokens first.")
    priority: Optional[int] = None
    return_documents: bool = False


class ResultItem(TypedDict):
    index: int
    relevance_score: float
    document: NotRequired[Dict[str, Any]]


class RerankObject(TypedDict):
    id: str
    results: List[ResultItem]
    meta: Dict[str, Any]
    model: str
    usage: Dict[str, int]


def document_text(doc: Document, index: int, rank_fields: Optional[List[str]] = None) -> str:
    """The text a document is ranked on: the string, its `text`, or its `rank_fields` joined."""
    if isinstance(doc, str):
        return doc
    fields = rank_fields or ["text"]
    missing = [f for f in fields if f not in doc]
    if missing and not rank_fields:
        raise ValidationError(f"documents[{index}] is an object without a 'text' field; send strings or set rank_fields")
    parts = []
    for name in fields:
        value = doc.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValidationError(f"documents[{index}].{name} must be a string")
        parts.append(value if len(fields) == 1 else f"{name}: {value}")
    if not parts:
        raise ValidationError(f"documents[{index}] has none of the rank_fields {rank_fields}")
    return "\n".join(parts)


def _check_positive(name: str, value: Optional[int]) -> None:
    if value is not None and value < 1:
        raise ValidationError(f"{name} must be >= 1, got {value}")


def v1_to_internal(body: V1Body, ctx: WireContext) -> RerankRequest:
    _check_positive("max_chunks_per_doc", body.max_chunks_per_doc)
    texts = [document_text(d, i, body.rank_fields) for i, d in enumerate(body.documents)]
    return RerankRequest(
        query=body.query, documents=texts, top_n=body.top_n, max_chunks_per_doc=body.max_chunks_per_doc,
        truncation=TruncationOptions(truncate=True),
    )


def v2_to_internal(body: V2Body, ctx: WireContext) -> RerankRequest:
    _check_positive("max_tokens_per_doc", body.max_tokens_per_doc)
    texts = [document_text(d, i) for i, d in enumerate(body.documents)]
    return RerankRequest(
        query=body.query, documents=texts, top_n=body.top_n, max_tokens_per_doc=body.max_tokens_per_doc,
        truncation=TruncationOptions(truncate=True),
    )


def _wire_document(doc: Document) -> Dict[str, Any]:
    return {"text": doc} if isinstance(doc, str) else dict(doc)


def _rerank_object(
    documents: List[Document], return_documents: bool, result: RerankResult, ctx: WireContext, version: str
) -> RerankObject:
    results: List[ResultItem] = []
    for r in result.results:
        item: ResultItem = {"index": r.index, "relevance_score": unit_interval(r.score)}
        if return_documents:
            item["document"] = _wire_document(documents[r.index])
        results.append(item)
    units = max(1, math.ceil(len(documents) / 100))  # Cohere bills one unit per query and 100 documents
    return {
        "id": ctx.request_id or str(uuid.uuid4()),
        "results": results,
        "meta": {"api_version": {"version": version}, "billed_units": {"search_units": units}},
        "model": ctx.model,
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens},
    }


def v1_to_wire(body: V1Body, result: RerankResult, ctx: WireContext) -> RerankObject:
    return _rerank_object(body.documents, body.return_documents, result, ctx, "1")


def v2_to_wire(body: V2Body, result: RerankResult, ctx: WireContext) -> RerankObject:
    return _rerank_object(body.documents, body.return_documents, result, ctx, "2")


ROUTES = (
    WireRoute(
        path="/v1/rerank", body=V1Body, to_internal=v1_to_internal, to_wire=v1_to_wire, family="Cohere",
        summary="Cohere v1 / Jina rerank; long documents are chunked, a document scores its best chunk.",
        response_schema=RerankObject,
    ),
    WireRoute(
        path="/v2/rerank", body=V2Body, to_internal=v2_to_internal, to_wire=v2_to_wire, family="Cohere",
        summary="Cohere v2 / vLLM rerank; documents are cut to max_tokens_per_doc first.",
        response_schema=RerankObject,
    ),
    WireRoute(
        path="/v3/rerank", body=V2Body, to_internal=v2_to_internal, to_wire=v2_to_wire, family="Cohere",
        summary="OpenVINO Model Server rerank: the v2 body, with return_documents.",
        response_schema=RerankObject,
    ),
)
