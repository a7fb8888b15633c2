"""What every wire format shares: lenient request models and the `WireRoute` table entry.

A `WireRoute` is all the server and the Python-model bundle need to serve one route: the
request model, a converter to one internal request type (types.py) and a converter from
the internal result back to the wire shape. Routes carry no scoring logic, so adding a
format is one table entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generic, TypeVar, Union

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ValidationError
from ..types import (
    EmbedRequest, EmbedResult, PredictRequest, PredictResult, RerankRequest, RerankResult, ScoreRequest, ScoreResult,
    TruncationDirection, TruncationOptions,
)

InternalRequest = Union[RerankRequest, PredictRequest, EmbedRequest, ScoreRequest]
InternalResult = Union[RerankResult, PredictResult, EmbedResult, ScoreResult]
Body = TypeVar("Body", bound="WireModel")

if TYPE_CHECKING:
    from ..service import Reranker

# Internal request type -> the `Reranker` coroutine that answers it.
_RUNTIME_CALLS: dict[type, str] = {
    RerankRequest: "rerank_request",
    PredictRequest: "predict_request",
    EmbedRequest: "embed_request",
    ScoreRequest: "score_request",
}
_MAX_ERRORS = 5
# pydantic names union branches in error locations ("inputs.str", "inputs.list[str]").
_TYPE_TAGS = {"str", "int", "float", "bool", "dict", "list", "function-after"}


class LenientModel(BaseModel):
    """Unknown fields are ignored (clients send extras); types are strict so that `"yes"`
    is not silently a boolean nor `1` a string."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class WireModel(LenientModel):
    """Base of every request body."""

    model: str | None = Field(default=None, description="Model name or id; optional when one model is served.")


class TruncatingModel(WireModel):
    """Bodies with TEI's truncation options."""

    truncate: bool | None = Field(default=None, description="Cut over-long inputs; null means the server default.")
    truncation_direction: str = Field(default="Right", description="'Left' or 'Right' (any case).")

    @field_validator("truncation_direction")
    @classmethod
    def _direction(cls, value: str) -> str:
        TruncationDirection.parse(value)  # raises ValueError with a clear message
        return value

    def truncation(self, ctx: "WireContext") -> TruncationOptions:
        truncate = ctx.truncate_default if self.truncate is None else self.truncate
        return TruncationOptions(truncate=truncate, direction=TruncationDirection.parse(self.truncation_direction))


@dataclass(frozen=True, kw_only=True)
class WireContext:
    """Server-side facts a converter needs: which model answers and the server defaults."""

    model: str
    truncate_default: bool = True
    request_id: str = ""


@dataclass(frozen=True, kw_only=True)
class WireRoute(Generic[Body]):
    """One HTTP route: body model → internal request → runtime → wire response."""

    path: str
    body: type[Body]
    to_internal: Callable[[Body, WireContext], InternalRequest]
    to_wire: Callable[[Body, Any, WireContext], Any]
    summary: str
    family: str  # tag in the OpenAPI docs: TEI, Cohere, OpenAI, vLLM, NIM
    response_schema: Any = None  # a TypedDict/list type describing the 200 body, for the docs
    tags: tuple[str, ...] = field(default=())

    def parse(self, payload: Any) -> Body:
        """Validate an already-decoded JSON value (what truss hands a Python model)."""
        try:
            return self.body.model_validate(payload)
        except pydantic.ValidationError as exc:
            raise ValidationError(describe_errors(exc)) from None


def run_internal(ranker: Reranker, request: InternalRequest) -> Awaitable[InternalResult]:
    """The runtime call that answers an internal request."""
    return getattr(ranker, _RUNTIME_CALLS[type(request)])(request)


def describe_errors(exc: pydantic.ValidationError) -> str:
    """`field.path: message; ...` for the first few problems, without echoing inputs back."""
    seen: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        if err["type"] == "json_invalid":
            return f"malformed JSON: {err['msg'].removeprefix('Invalid JSON: ')}"
        if err["type"] == "model_type" and not err["loc"]:
            return "the body must be a JSON object"
        loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p in _TYPE_TAGS)))
        line = f"{loc or 'body'}: {err['msg'].removeprefix('Value error, ')}"
        if line not in seen:
            seen.append(line)
    hidden = len(seen) - _MAX_ERRORS
    return "; ".join(seen[:_MAX_ERRORS]) + (f" (and {hidden} more)" if hidden > 0 else "")


def unit_interval(score: float) -> float:
    """Cohere-style scores live in [0, 1]. Cross-encoder scores already do (sigmoid); an
    embedding model's cosine can dip below 0, which clamps to 0 (order is kept: the
    results are already sorted, and clamping never reorders)."""
    return min(1.0, max(0.0, score))
