"""What every wire format shares: lenient request models and the `WireRoute` table entry.

A `WireRoute` is all the server needs to serve one route: the request model, a converter
to one internal request type (types.py) and a converter from the internal result back to
the wire shape. Routes carry no scoring logic, so adding a format is one table entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..types import (
    EmbedRequest, EmbedResult, PredictRequest, PredictResult, RerankRequest, RerankResult, ScoreRequest, ScoreResult,
    TruncationDirection, TruncationOptions,
)

InternalRequest = Union[RerankRequest, PredictRequest, EmbedRequest, ScoreRequest]
InternalResult = Union[RerankResult, PredictResult, EmbedResult, ScoreResult]
Body = TypeVar("Body", bound="WireModel")


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


def unit_interval(score: float) -> float:
    """Cohere-style scores live in [0, 1]. Cross-encoder scores already do (sigmoid); an
    embedding model's cosine can dip below 0, which clamps to 0 (order is kept: the
    results are already sorted, and clamping never reorders)."""
    return min(1.0, max(0.0, score))
