"""The one error table and the small request types."""
from __future__ import annotations

import pytest

from rerank_bundle import errors
from rerank_bundle.types import TruncationDirection

EXPECTED = {
    errors.ValidationError: (422, "Validation"),
    errors.EmptyInputError: (400, "Empty"),
    errors.PayloadTooLargeError: (413, "PayloadTooLarge"),
    errors.ModelNotFoundError: (404, "NotFound"),
    errors.OverloadedError: (429, "Overloaded"),
    errors.BackendError: (424, "Backend"),
    errors.UnhealthyError: (503, "Unhealthy"),
    errors.UnauthorizedError: (401, "Unauthorized"),
}


@pytest.mark.parametrize("cls", list(EXPECTED))
def test_every_error_has_its_status_and_body(cls):
    status, error_type = EXPECTED[cls]
    err = cls("something is off")
    assert err.status == status == errors.http_status(err)
    assert err.to_body() == {"error": "something is off", "error_type": error_type}
    assert isinstance(err, errors.RerankBundleError)


def test_table_covers_every_error_type():
    assert set(errors.HTTP_STATUS) == set(errors.ErrorType)
    assert {cls.error_type for cls in EXPECTED} == set(errors.ErrorType)


def test_anything_else_is_a_500():
    assert errors.http_status(KeyError("x")) == 500
    assert errors.http_status(errors.ConfigError("bad")) == 500  # start-up errors never reach clients


def test_overloaded_carries_retry_after():
    assert errors.OverloadedError("full", retry_after=2.5).retry_after == 2.5


@pytest.mark.parametrize("value, expected", [
    ("Left", TruncationDirection.LEFT), ("LEFT", TruncationDirection.LEFT), ("left", TruncationDirection.LEFT),
    ("Right", TruncationDirection.RIGHT), ("rIgHt", TruncationDirection.RIGHT), (None, TruncationDirection.RIGHT),
    (TruncationDirection.LEFT, TruncationDirection.LEFT),
])
def test_truncation_direction_parses_any_case(value, expected):
    assert TruncationDirection.parse(value) is expected


@pytest.mark.parametrize("value", ["up", "", "l"])
def test_truncation_direction_rejects_others(value):
    with pytest.raises(ValueError, match="'Left' or 'Right'"):
        TruncationDirection.parse(value)
