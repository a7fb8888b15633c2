"""Error types of the runtime and the one table that maps them to HTTP status codes.

Every layer raises these; only the server turns them into responses, through `http_status`.
"""
from __future__ import annotations

from enum import Enum


class ErrorType(str, Enum):
    """The `error_type` field of a native error body (see shared/api-contract.md)."""

    VALIDATION = "Validation"
    EMPTY = "Empty"
    TOO_LARGE = "PayloadTooLarge"
    NOT_FOUND = "NotFound"
    OVERLOADED = "Overloaded"
    BACKEND = "Backend"
    UNHEALTHY = "Unhealthy"
    UNAUTHORIZED = "Unauthorized"


# The single table from error type to HTTP status. Clients retry 429/5xx and give up on
# 4xx, so an inference failure is 424 (not retried blindly) and overload is 429.
HTTP_STATUS: dict[ErrorType, int] = {
    ErrorType.VALIDATION: 422,
    ErrorType.EMPTY: 400,
    ErrorType.TOO_LARGE: 413,
    ErrorType.NOT_FOUND: 404,
    ErrorType.OVERLOADED: 429,
    ErrorType.BACKEND: 424,
    ErrorType.UNHEALTHY: 503,
    ErrorType.UNAUTHORIZED: 401,
}


class RerankBundleError(Exception):
    """Base class: a message meant for the client plus its error type."""

    error_type: ErrorType = ErrorType.BACKEND

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.error_type]

    def to_body(self) -> dict[str, str]:
        return {"error": self.message, "error_type": self.error_type.value}


class ValidationError(RerankBundleError):
    """The request is well-formed JSON but breaks a rule (types, lengths, options)."""

    error_type = ErrorType.VALIDATION


class EmptyInputError(RerankBundleError):
    """No texts/documents/inputs to work on."""

    error_type = ErrorType.EMPTY


class PayloadTooLargeError(RerankBundleError):
    """Body over the payload limit, or more items than max_client_batch_size."""

    error_type = ErrorType.TOO_LARGE


class ModelNotFoundError(RerankBundleError):
    """A request named a model this server does not serve."""

    error_type = ErrorType.NOT_FOUND


class OverloadedError(RerankBundleError):
    """The queue is full; the client should retry after `retry_after` seconds."""

    error_type = ErrorType.OVERLOADED

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendError(RerankBundleError):
    """Inference failed inside an engine; only the requests of that batch see it."""

    error_type = ErrorType.BACKEND


class UnhealthyError(RerankBundleError):
    """The model is not loaded (yet) or the runtime is shutting down."""

    error_type = ErrorType.UNHEALTHY


class UnauthorizedError(RerankBundleError):
    """Missing or wrong API key."""

    error_type = ErrorType.UNAUTHORIZED


class ConfigError(Exception):
    """A bad catalog entry or setting: raised at start-up, never mapped to a response."""


class EngineUnavailable(Exception):
    """An engine cannot run here (missing library, no GPU, stale artifact); selection falls back."""


def http_status(error: BaseException) -> int:
    """HTTP status for any exception: runtime errors by table; anything else is our bug (500)."""
    if isinstance(error, RerankBundleError):
        return error.status
    return 500
