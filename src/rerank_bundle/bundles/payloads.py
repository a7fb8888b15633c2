"""Payload dicts of the Python-model bundle: which route they are for, then the server's own
wire formats (schemas/) for everything else.

truss's own server hands `Model.predict` the parsed JSON body and nothing else (no path),
so the route is recognised from the payload's keys, the bundle's default route first.
That is all that is truss-specific here: validation, conversion to the internal types of
types.py and the response shapes are the `WireRoute` entries the HTTP server serves.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from ..schemas import WIRE_ROUTES, InternalRequest, WireContext, WireModel, WireRoute, wire_route
from ..types import ModelKind

# The keys a payload must have to be meant for a route: its body model's required fields.
ROUTE_KEYS: dict[str, frozenset[str]] = {
    route.path: frozenset(name for name, info in route.body.model_fields.items() if info.is_required())
    for route in WIRE_ROUTES
}


@dataclass(frozen=True)
class Call:
    """One validated payload: its internal request, and how to render that request's result."""

    route: WireRoute
    body: WireModel
    ctx: WireContext
    request: InternalRequest

    def render(self, result: Any) -> Any:
        return self.route.to_wire(self.body, result, self.ctx)


def detect_route(payload: Any, *, default_route: str, kind: ModelKind) -> str:
    """The route a payload is meant for: the default route if its keys fit, else by keys."""
    if not isinstance(payload, dict):
        raise ValidationError(f"the request body must be a JSON object, got {type(payload).__name__}")
    keys = payload.keys()
    cohere = "/v1/rerank" if "max_chunks_per_doc" in keys else "/v2/rerank"
    tei = "/embed" if kind is ModelKind.EMBED else "/predict"
    for path in (default_route, "/rerank", cohere, "/score", "/v1/embeddings", tei):
        if ROUTE_KEYS.get(path, frozenset({"-"})) <= keys:
            return path
    raise ValidationError(
        "unrecognised payload: send {query, texts} (TEI rerank), {query, documents} (Cohere rerank), "
        "{inputs} (TEI predict/embed), {input} (OpenAI embeddings) or {text_1, text_2} (score)"
    )


def parse(route: str, payload: Any, *, model: str) -> Call:
    """Validate a payload for `route` as the server would, and build its internal request."""
    spec = wire_route(route)
    body = spec.parse(payload)
    ctx = WireContext(model=model, request_id=uuid.uuid4().hex)  # truss sends no request id of its own
    return Call(spec, body, ctx, spec.to_internal(body, ctx))
