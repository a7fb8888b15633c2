"""vLLM `/score` and `/v1/score`: `text_1` against `text_2`, 1→N or N↔N, answered in input order."""
from __future__ import annotations

import time
from typing import List, Literal, Optional, Union

from typing_extensions import TypedDict

from ..errors import EmptyInputError
from ..types import ScoreRequest, ScoreResult, TruncationOptions
from .base import WireContext, WireModel, WireRoute, unit_interval


class ScoreBody(WireModel):
    text_1: Union[str, List[str]]
    text_2: Union[str, List[str]]
    truncate_prompt_tokens: Optional[int] = None  # accepted for vLLM compatibility; the model limit applies


class ScoreItem(TypedDict):
    index: int
    object: Literal["score"]
    score: float


class ScoreObject(TypedDict):
    id: str
    object: Literal["list"]
    created: int
    model: str
    data: List[ScoreItem]
    usage: dict


def _as_list(value: Union[str, List[str]]) -> List[str]:
    return [value] if isinstance(value, str) else value


def to_internal(body: ScoreBody, ctx: WireContext) -> ScoreRequest:
    for name, value in (("text_1", body.text_1), ("text_2", body.text_2)):
        if isinstance(value, list) and not value:
            raise EmptyInputError(f"`{name}` is empty: send at least one text")
    return ScoreRequest(
        text_1=_as_list(body.text_1), text_2=_as_list(body.text_2),
        truncation=TruncationOptions(truncate=ctx.truncate_default),
    )


def to_wire(body: ScoreBody, result: ScoreResult, ctx: WireContext) -> ScoreObject:
    return {
        "id": f"score-{ctx.request_id}",
        "object": "list",
        "created": int(time.time()),
        "model": ctx.model,
        "data": [{"index": i, "object": "score", "score": unit_interval(s)} for i, s in enumerate(result.scores)],
        "usage": {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens, "completion_tokens": 0},
    }


ROUTES = tuple(
    WireRoute(
        path=path, body=ScoreBody, to_internal=to_internal, to_wire=to_wire, family="vLLM",
        summary="vLLM score: relevance of each (text_1, text_2) pair in [0, 1], in input order.",
        response_schema=ScoreObject,
    )
    for path in ("/score", "/v1/score")
)
