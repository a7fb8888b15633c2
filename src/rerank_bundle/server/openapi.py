"""OpenAPI documents for routes whose bodies the handlers read themselves.

Handlers parse bodies with pydantic directly (for JSON errors on malformed bodies and a
streaming size limit), so FastAPI cannot see the models; this puts the request and
response schemas into `openapi_extra`/`responses` and their definitions into components.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter

_REF = "#/components/schemas/{model}"
_ERROR = {
    "type": "object", "required": ["error", "error_type"],
    "properties": {"error": {"type": "string"}, "error_type": {"type": "string"}},
}


class SchemaCollector:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": _ERROR}

    def _add(self, schema: dict[str, Any]) -> dict[str, Any]:
        self.components.update(schema.pop("$defs", {}))
        return schema

    def request_body(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = self._add(model.model_json_schema(ref_template=_REF))
        self.components[model.__name__] = schema
        content = {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}
        return {"requestBody": {"required": True, "content": content}}

    def responses(self, response_type: Any) -> dict[int | str, dict[str, Any]]:
        ok: dict[str, Any] = {"description": "Success"}
        if response_type is not None:
            schema = self._add(TypeAdapter(response_type).json_schema(ref_template=_REF))
            ok["content"] = {"application/json": {"schema": schema}, "application/msgpack": {"schema": schema}}
        error = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}
        described = {
            400: "Empty input", 401: "Missing or wrong API key", 404: "Unknown model",
            413: "Body or item count over the limit", 422: "Invalid body", 424: "Inference failed",
            429: "Overloaded (see Retry-After)", 503: "Not ready",
        }
        return {200: ok, **{code: {"description": text, **error} for code, text in described.items()}}

    def install(self, app: FastAPI) -> None:
        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
                schema.setdefault("components", {}).setdefault("schemas", {}).update(self.components)
                app.openapi_schema = schema
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]
