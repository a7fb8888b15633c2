"""Wire formats, one module per family. `WIRE_ROUTES` is the table the server serves and
`wire_route` finds one entry by path (the Python-model bundle's way in)."""
from ..errors import ValidationError
from . import cohere, nim, openai, tei, vllm
from .base import InternalRequest, InternalResult, WireContext, WireModel, WireRoute, run_internal

WIRE_ROUTES: tuple[WireRoute, ...] = (*tei.ROUTES, *openai.ROUTES, *cohere.ROUTES, *vllm.ROUTES, *nim.ROUTES)
_BY_PATH: dict[str, WireRoute] = {route.path: route for route in WIRE_ROUTES}


def wire_route(path: str) -> WireRoute:
    """The table entry serving `path`; a path no format serves is a ValidationError (422)."""
    route = _BY_PATH.get(path)
    if route is None:
        raise ValidationError(f"route {path} is not served; known routes: {', '.join(_BY_PATH)}")
    return route


__all__ = [
    "InternalRequest", "InternalResult", "WIRE_ROUTES", "WireContext", "WireModel", "WireRoute", "run_internal",
    "wire_route",
]
