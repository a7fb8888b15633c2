"""Every error leaves the server as JSON `{"error", "error_type"}` with the status from
`errors.HTTP_STATUS`: runtime errors, routing errors (404/405), and our own bugs (500)."""
from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..errors import ErrorType, OverloadedError, RerankBundleError, UnauthorizedError, http_status
from .http import JSONBody

log = logging.getLogger(__name__)

_HTTP_ERROR_TYPES = {
    401: ErrorType.UNAUTHORIZED, 404: ErrorType.NOT_FOUND, 413: ErrorType.TOO_LARGE, 503: ErrorType.UNHEALTHY,
}


def error_response(exc: BaseException, *, state: dict | None = None) -> Response:
    """The one place an exception becomes a response. `state` (the request's scope state)
    gets `error_type` so that metrics and the access log can count failures by kind."""
    headers: dict[str, str] = {}
    if isinstance(exc, RerankBundleError):
        status, body = http_status(exc), exc.to_body()
        if isinstance(exc, OverloadedError):
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        if isinstance(exc, UnauthorizedError):
            headers["WWW-Authenticate"] = 'Bearer, Api-Key'
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        kind = _HTTP_ERROR_TYPES.get(status, ErrorType.VALIDATION)
        body = {"error": str(exc.detail), "error_type": kind.value}
        headers.update(exc.headers or {})
    else:
        log.error("unhandled error", exc_info=exc)
        status, body = 500, {"error": f"internal error: {type(exc).__name__}", "error_type": ErrorType.BACKEND.value}
    if state is not None:
        state["error_type"] = body["error_type"]
    return JSONBody(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> Response:
        if isinstance(exc, RequestValidationError):  # FastAPI's own (path parameters)
            exc = _validation(exc)
        return error_response(exc, state=request.scope.setdefault("state", {}))

    for kind in (RerankBundleError, HTTPException, RequestValidationError, Exception):
        app.add_exception_handler(kind, handle)


def _validation(exc: RequestValidationError) -> RerankBundleError:
    from ..errors import ValidationError

    parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()[:5]]
    return ValidationError("; ".join(parts) or "invalid request")
