"""Request bodies in, response bodies out: size limit, content type, JSON/msgpack.

Bodies are read as a stream and refused as soon as they pass the payload limit, so an
oversize upload never sits in memory whole. Responses are orjson, or msgpack when the
client lists a msgpack type in `Accept` at least as high as JSON (baseten-performance-
client sends `application/json, application/msgpack` and decodes either).
"""
from __future__ import annotations

from typing import Any, Mapping, TypeVar

import msgpack
import orjson
import pydantic
from starlette.requests import Request
from starlette.responses import Response

from ..errors import PayloadTooLargeError, ValidationError
from ..schemas.base import describe_errors

Model = TypeVar("Model", bound=pydantic.BaseModel)
MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")


class JSONBody(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


async def read_body(request: Request, *, limit: int) -> bytes:
    content_type = request.headers.get("content-type")
    if content_type and not _is_json(content_type):
        raise ValidationError(f"Content-Type must be application/json, got {content_type[:100]!r}")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ValidationError("Content-Length must be a number of bytes")
        if int(declared) > limit:
            raise PayloadTooLargeError(f"body of {declared} bytes is over the payload limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body is over the payload limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(raw: bytes, model: type[Model]) -> Model:
    if not raw.strip():
        raise ValidationError("empty body: send a JSON object")
    try:
        return model.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        raise ValidationError(describe_errors(exc)) from None


def wanted_msgpack(accept: str | None) -> str | None:
    """The msgpack media type to answer with, or None for JSON."""
    if not accept or "msgpack" not in accept:
        return None
    best_msgpack, best_json = (None, 0.0), 0.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = _quality(params)
        if media in MSGPACK_TYPES and q > best_msgpack[1]:
            best_msgpack = (media, q)
        elif media in ("application/json", "application/*", "*/*"):
            best_json = max(best_json, q)
    media, q = best_msgpack
    return media if media and q > 0 and q >= best_json else None


def _quality(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def render(request: Request, payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    media = wanted_msgpack(request.headers.get("accept"))
    if media:
        return Response(msgpack.packb(payload, use_bin_type=True), status_code=status, headers=headers, media_type=media)
    return JSONBody(payload, status_code=status, headers=headers)
