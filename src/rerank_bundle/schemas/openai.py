"""OpenAI `/v1/embeddings`. `usage` is always present (baseten-performance-client needs it);
`encoding_format="base64"` packs little-endian float32, which the openai SDK asks for by default."""
from __future__ import annotations

import base64
from typing import List, Literal, Optional, Union

import numpy as np
from pydantic import Field
from typing_extensions import TypedDict

from ..types import EmbedRequest, EmbedResult, TruncationOptions
from .base import WireContext, WireModel, WireRoute


class EmbeddingsBody(WireModel):
    input: Union[str, List[str]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Optional[int] = Field(default=None, description="Matryoshka: keep the first N components.")
    user: Optional[str] = None


class EmbeddingItem(TypedDict):
    object: Literal["embedding"]
    index: int
    embedding: Union[List[float], str]


class Usage(TypedDict):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsObject(TypedDict):
    object: Literal["list"]
    data: List[EmbeddingItem]
    model: str
    usage: Usage


def to_internal(body: EmbeddingsBody, ctx: WireContext) -> EmbedRequest:
    texts = [body.input] if isinstance(body.input, str) else body.input
    return EmbedRequest(texts=texts, dimensions=body.dimensions, truncation=TruncationOptions(truncate=ctx.truncate_default))


def _encode(vector: List[float], fmt: str) -> Union[List[float], str]:
    if fmt == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return vector


def to_wire(body: EmbeddingsBody, result: EmbedResult, ctx: WireContext) -> EmbeddingsObject:
    data: List[EmbeddingItem] = [
        {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
        for i, v in enumerate(result.embeddings)
    ]
    usage: Usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
    return {"object": "list", "data": data, "model": ctx.model, "usage": usage}


ROUTES = (
    WireRoute(
        path="/v1/embeddings", body=EmbeddingsBody, to_internal=to_internal, to_wire=to_wire, family="OpenAI",
        summary="OpenAI embeddings; `encoding_format` float or base64.", response_schema=EmbeddingsObject,
    ),
)
