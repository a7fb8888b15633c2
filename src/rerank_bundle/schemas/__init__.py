"""Wire formats, one module per family. `WIRE_ROUTES` is the table the server serves."""
from . import cohere, nim, openai, tei, vllm
from .base import InternalRequest, InternalResult, WireContext, WireModel, WireRoute

WIRE_ROUTES: tuple[WireRoute, ...] = (*tei.ROUTES, *openai.ROUTES, *cohere.ROUTES, *vllm.ROUTES, *nim.ROUTES)

__all__ = ["InternalRequest", "InternalResult", "WIRE_ROUTES", "WireContext", "WireModel", "WireRoute"]
