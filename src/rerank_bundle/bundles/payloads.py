"""Payload dicts of the Python-model bundle → internal requests, and results → wire JSON.

truss's own server hands `Model.predict` the parsed JSON body and nothing else (no path),
so the route is recognised from the payload's keys, the bundle's default route first. This
is the only place that turns truss payloads into the internal types of types.py; response
shapes follow /work/shared/api-contract.md (TEI bare arrays, Cohere/vLLM/OpenAI objects).
"""
from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError as PydanticError

from ..errors import ValidationError
from ..types import (
    EmbedRequest, EmbedResult, ModelKind, PredictRequest, PredictResult, RerankRequest, RerankResult, ScoreRequest,
    ScoreResult, TruncationDirection, TruncationOptions,
)

# Keys that identify each route's payload; the first matching route wins after the default.
ROUTE_KEYS: dict[str, frozenset[str]] = {
    "/rerank": frozenset({"query", "texts"}),
    "/v2/rerank": frozenset({"query", "documents"}),
    "/v1/rerank": frozenset({"query", "documents"}),
    "/score": frozenset({"text_1", "text_2"}),
    "/v1/embeddings": frozenset({"input"}),
    "/predict": frozenset({"inputs"}),
    "/embed": frozenset({"inputs"}),
}
InternalRequest = Union[RerankRequest, PredictRequest, EmbedRequest, ScoreRequest]


@dataclass(frozen=True)
class Call:
    """One recognised payload: the internal request and how to render its result."""

    route: str
    request: InternalRequest
    render: Callable[[Any], Any]


def detect_route(payload: Any, *, default_route: str, kind: ModelKind) -> str:
    """The route a payload is meant for: the default route if its keys fit, else by keys."""
    if not isinstance(payload, dict):
        raise ValidationError(f"the request body must be a JSON object, got {type(payload).__name__}")
    keys = payload.keys()
    if ROUTE_KEYS.get(default_route, frozenset({"-"})) <= keys:
        return default_route
    if ROUTE_KEYS["/rerank"] <= keys:
        return "/rerank"
    if ROUTE_KEYS["/v2/rerank"] <= keys:
        return "/v1/rerank" if "max_chunks_per_doc" in keys else "/v2/rerank"
    if ROUTE_KEYS["/score"] <= keys:
        return "/score"
    if "input" in keys:
        return "/v1/embeddings"
    if "inputs" in keys:
        return "/embed" if kind is ModelKind.EMBED else "/predict"
    raise ValidationError(
        "unrecognised payload: send {query, texts} (TEI rerank), {query, documents} (Cohere rerank), "
        "{inputs} (TEI predict/embed), {input} (OpenAI embeddings) or {text_1, text_2} (score)"
    )


def parse(route: str, payload: Any, *, model: str) -> Call:
    """Validate a payload for `route` and build its internal request and renderer."""
    if not isinstance(payload, dict):
        raise ValidationError(f"the request body must be a JSON object, got {type(payload).__name__}")
    builder = _BUILDERS.get(route)
    if builder is None:
        raise ValidationError(f"route {route} is not served by this bundle")
    try:
        return builder(payload, model)
    except PydanticError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ValidationError(f"invalid {route} payload: {problems}") from None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")  # clients send extras; the contract ignores them


class _Truncating(_Wire):
    truncate: bool | None = None
    truncation_direction: str = "right"

    def truncation(self) -> TruncationOptions:
        try:
            direction = TruncationDirection.parse(self.truncation_direction)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return TruncationOptions(truncate=self.truncate is not False, direction=direction)


class _TeiRerank(_Truncating):
    query: str
    texts: list[str]
    raw_scores: bool = False
    return_text: bool = False
    top_n: int | None = None


class _CohereDocument(_Wire):
    text: str


class _CohereRerank(_Wire):
    query: str
    documents: list[Union[str, _CohereDocument]]
    top_n: int | None = None
    return_documents: bool = False
    max_chunks_per_doc: int | None = None
    max_tokens_per_doc: int | None = Field(default=None, ge=1)

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


class _Predict(_Truncating):
    inputs: Union[str, list[str], list[list[str]]]
    raw_scores: bool = False


class _Embed(_Truncating):
    inputs: Union[str, list[str]]
    normalize: bool = True
    dimensions: int | None = None


class _OpenAIEmbed(_Wire):
    input: Union[str, list[str]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None


class _Score(_Wire):
    text_1: Union[str, list[str]]
    text_2: Union[str, list[str]]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _tei_rerank(payload: dict, model: str) -> Call:
    p = _TeiRerank.model_validate(payload)
    request = RerankRequest(
        query=p.query, documents=p.texts, top_n=p.top_n, raw_scores=p.raw_scores, return_text=p.return_text,
        truncation=p.truncation(),
    )

    def render(result: RerankResult) -> list[dict[str, Any]]:
        return [
            {"index": r.index, "score": r.score, **({"text": r.text} if p.return_text else {})} for r in result.results
        ]

    return Call("/rerank", request, render)


def _cohere_rerank(version: str) -> Callable[[dict, str], Call]:
    def build(payload: dict, model: str) -> Call:
        p = _CohereRerank.model_validate(payload)
        texts = p.texts()
        chunks = (p.max_chunks_per_doc if p.max_chunks_per_doc is not None else 10) if version == "1" else None
        request = RerankRequest(
            query=p.query, documents=texts, top_n=p.top_n, return_text=False, max_chunks_per_doc=chunks,
            max_tokens_per_doc=p.max_tokens_per_doc if version != "1" else None,
        )

        def render(result: RerankResult) -> dict[str, Any]:
            rows = [
                {"index": r.index, "relevance_score": r.score,
                 **({"document": {"text": texts[r.index]}} if p.return_documents else {})}
                for r in result.results
            ]
            meta = {"api_version": {"version": version}, "billed_units": {"search_units": 1}}
            return {"id": uuid.uuid4().hex, "results": rows, "meta": meta, "model": model}

        return Call(f"/v{version}/rerank", request, render)

    return build


def _predict(payload: dict, model: str) -> Call:
    p = _Predict.model_validate(payload)
    # "s" is one text, ["a", "b"] ONE pair, [["s"], ["a", "b"]] a batch; [] is an empty batch (400).
    single = isinstance(p.inputs, str) or (bool(p.inputs) and all(isinstance(x, str) for x in p.inputs))
    rows = [[p.inputs]] if isinstance(p.inputs, str) else [p.inputs] if single else p.inputs
    request = PredictRequest(inputs=[tuple(r) for r in rows], raw_scores=p.raw_scores, truncation=p.truncation())

    def render(result: PredictResult) -> list:
        out = [[{"label": s.label, "score": s.score} for s in row] for row in result.predictions]
        return out[0] if single else out

    return Call("/predict", request, render)


def _tei_embed(payload: dict, model: str) -> Call:
    p = _Embed.model_validate(payload)
    request = EmbedRequest(
        texts=_as_list(p.inputs), normalize=p.normalize, dimensions=p.dimensions, truncation=p.truncation()
    )
    return Call("/embed", request, lambda result: result.embeddings)


def _openai_embed(payload: dict, model: str) -> Call:
    p = _OpenAIEmbed.model_validate(payload)
    request = EmbedRequest(texts=_as_list(p.input), dimensions=p.dimensions)

    def encode(vector: list[float]) -> list[float] | str:
        if p.encoding_format == "float":
            return vector
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")

    def render(result: EmbedResult) -> dict[str, Any]:
        data = [{"object": "embedding", "index": i, "embedding": encode(v)} for i, v in enumerate(result.embeddings)]
        usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
        return {"object": "list", "data": data, "model": model, "usage": usage}

    return Call("/v1/embeddings", request, render)


def _score(payload: dict, model: str) -> Call:
    p = _Score.model_validate(payload)
    request = ScoreRequest(text_1=_as_list(p.text_1), text_2=_as_list(p.text_2))

    def render(result: ScoreResult) -> dict[str, Any]:
        data = [{"index": i, "object": "score", "score": s} for i, s in enumerate(result.scores)]
        usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
        return {"id": f"score-{uuid.uuid4().hex}", "object": "list", "created": int(time.time()), "model": model,
                "data": data, "usage": usage}

    return Call("/score", request, render)


_BUILDERS: dict[str, Callable[[dict, str], Call]] = {
    "/rerank": _tei_rerank,
    "/v1/rerank": _cohere_rerank("1"),
    "/v2/rerank": _cohere_rerank("2"),
    "/predict": _predict,
    "/embed": _tei_embed,
    "/v1/embeddings": _openai_embed,
    "/score": _score,
}
