"""Payload shapes of the Python-model bundle: recognition, conversion to internal requests,
and rendering of results in each wire format of the API contract. Past recognition the
bundle uses the server's route table, so these also pin the two to the same answers."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from rerank_bundle.bundles.payloads import ROUTE_KEYS, detect_route, parse
from rerank_bundle.config import ROUTES
from rerank_bundle.errors import EmptyInputError, ValidationError
from rerank_bundle.schemas import WireContext, wire_route
from rerank_bundle.server.http import parse_body
from rerank_bundle.types import (
    EmbedRequest, EmbedResult, LabelScore, ModelKind, PredictRequest, PredictResult, RankedDocument, RerankRequest,
    RerankResult, ScoreRequest, ScoreResult, TruncationDirection,
)

RERANK = ModelKind.RERANK


@pytest.mark.parametrize(
    ("payload", "default", "kind", "route"),
    [
        ({"query": "q", "texts": ["a"]}, "/rerank", RERANK, "/rerank"),
        ({"query": "q", "texts": ["a"]}, "/predict", RERANK, "/rerank"),
        ({"query": "q", "documents": ["a"]}, "/rerank", RERANK, "/v2/rerank"),
        ({"query": "q", "documents": ["a"], "max_chunks_per_doc": 3}, "/rerank", RERANK, "/v1/rerank"),
        ({"query": "q", "documents": ["a"]}, "/v1/rerank", RERANK, "/v1/rerank"),  # the default route wins
        ({"inputs": [["q", "a"]]}, "/rerank", RERANK, "/predict"),
        ({"inputs": ["a", "b"]}, "/rerank", ModelKind.EMBED, "/embed"),
        ({"input": ["a"]}, "/rerank", ModelKind.EMBED, "/v1/embeddings"),
        ({"text_1": "q", "text_2": ["a"]}, "/rerank", RERANK, "/score"),
    ],
)
def test_detect_route(payload: dict, default: str, kind: ModelKind, route: str) -> None:
    assert detect_route(payload, default_route=default, kind=kind) == route


@pytest.mark.parametrize("payload", [{"foo": 1}, ["query"], "text", None])
def test_unrecognised_payloads_are_validation_errors(payload: object) -> None:
    with pytest.raises(ValidationError) as info:
        detect_route(payload, default_route="/rerank", kind=RERANK)
    assert info.value.status == 422


def test_tei_rerank_request_and_bare_array_answer() -> None:
    call = parse("/rerank", {"query": "q", "texts": ["a", "b"], "return_text": True, "truncate": False,
                             "truncation_direction": "LEFT", "model": "ignored", "extra": 1}, model="m")
    req = call.request
    assert isinstance(req, RerankRequest)
    assert (req.query, list(req.documents), req.return_text) == ("q", ["a", "b"], True)
    assert req.truncation.truncate is False and req.truncation.direction is TruncationDirection.LEFT
    result = RerankResult(results=[RankedDocument(index=1, score=0.9, text="b"), RankedDocument(index=0, score=0.1, text="a")],
                          prompt_tokens=7)
    assert call.render(result) == [{"index": 1, "score": 0.9, "text": "b"}, {"index": 0, "score": 0.1, "text": "a"}]
    plain = parse("/rerank", {"query": "q", "texts": ["a"]}, model="m")
    assert plain.request.truncation.truncate is True  # null/absent: the server default, truncate
    assert plain.render(RerankResult(results=[RankedDocument(index=0, score=0.5)], prompt_tokens=1)) == [
        {"index": 0, "score": 0.5}
    ]


def test_cohere_v1_chunks_and_v2_cuts_documents() -> None:
    v1 = parse("/v1/rerank", {"query": "q", "documents": ["a", {"text": "b", "title": "t"}], "return_documents": True},
               model="m")
    assert isinstance(v1.request, RerankRequest)
    assert list(v1.request.documents) == ["a", "b"] and v1.request.max_chunks_per_doc == 10
    body = v1.render(RerankResult(results=[RankedDocument(index=1, score=0.8)], prompt_tokens=3))
    # The document comes back as it was sent, extra fields included (as the server answers).
    assert body["results"] == [{"index": 1, "relevance_score": 0.8, "document": {"text": "b", "title": "t"}}]
    assert body["meta"] == {"api_version": {"version": "1"}, "billed_units": {"search_units": 1}}
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3} and body["model"] == "m"
    assert isinstance(body["id"], str) and body["id"]
    v2 = parse("/v2/rerank", {"model": "m", "query": "q", "documents": ["a"], "top_n": 1, "max_tokens_per_doc": 64},
               model="m")
    assert (v2.request.top_n, v2.request.max_tokens_per_doc, v2.request.max_chunks_per_doc) == (1, 64, None)
    body = v2.render(RerankResult(results=[RankedDocument(index=0, score=0.3)], prompt_tokens=2))
    assert body["results"] == [{"index": 0, "relevance_score": 0.3}]
    assert body["meta"]["api_version"] == {"version": "2"}
    defaults = parse("/v2/rerank", {"query": "q", "documents": ["a"]}, model="m").request
    assert defaults.max_tokens_per_doc == 4096  # the contract's default


@pytest.mark.parametrize(
    ("inputs", "rows", "single"),
    [
        ("one text", [("one text",)], True),
        (["a", "b"], [("a", "b")], True),  # ONE pair
        ([["s"], ["a", "b"]], [("s",), ("a", "b")], False),
        (["a", "b", "c"], [("a",), ("b",), ("c",)], False),  # only two strings are a pair (TEI's rule)
        ([["s"], "t"], [("s",), ("t",)], False),
        ([], [], False),  # empty batch: the service answers 400
    ],
)
def test_predict_inputs_shapes(inputs: object, rows: list, single: bool) -> None:
    call = parse("/predict", {"inputs": inputs}, model="m")
    assert isinstance(call.request, PredictRequest)
    assert list(call.request.inputs) == rows
    preds = [[LabelScore(label="pos", score=0.7), LabelScore(label="neg", score=0.3)] for _ in rows]
    body = call.render(PredictResult(predictions=preds, prompt_tokens=1))
    expected = [[{"label": "pos", "score": 0.7}, {"label": "neg", "score": 0.3}] for _ in rows]
    assert body == (expected[0] if single else expected)


def test_embeddings_tei_and_openai() -> None:
    tei = parse("/embed", {"inputs": "x", "normalize": False, "dimensions": 2}, model="m")
    assert isinstance(tei.request, EmbedRequest)
    assert (list(tei.request.texts), tei.request.normalize, tei.request.dimensions) == (["x"], False, 2)
    result = EmbedResult(embeddings=[[0.5, -1.0]], prompt_tokens=4)
    assert tei.render(result) == [[0.5, -1.0]]
    oai = parse("/v1/embeddings", {"input": ["x"], "model": "m", "encoding_format": "base64"}, model="m")
    body = oai.render(result)
    assert body["object"] == "list" and body["model"] == "m"
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}
    decoded = np.frombuffer(base64.b64decode(body["data"][0]["embedding"]), dtype="<f4")
    assert decoded.tolist() == [0.5, -1.0]
    assert parse("/v1/embeddings", {"input": "x"}, model="m").render(result)["data"][0]["embedding"] == [0.5, -1.0]


def test_score_one_to_many() -> None:
    call = parse("/score", {"text_1": "q", "text_2": ["a", "b"]}, model="m")
    assert isinstance(call.request, ScoreRequest)
    assert (list(call.request.text_1), list(call.request.text_2)) == (["q"], ["a", "b"])
    body = call.render(ScoreResult(scores=[0.2, 0.9], prompt_tokens=5))
    assert [d["score"] for d in body["data"]] == [0.2, 0.9] and body["object"] == "list"
    with pytest.raises(EmptyInputError) as info:
        parse("/score", {"text_1": "q", "text_2": []}, model="m")
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("route", "payload"),
    [
        ("/rerank", {"query": 3, "texts": ["a"]}),
        ("/rerank", {"query": "q", "texts": "not a list"}),
        ("/rerank", {"query": "q", "texts": ["a"], "truncation_direction": "up"}),
        ("/v2/rerank", {"query": "q", "documents": [{"title": "no text"}]}),
        ("/v1/embeddings", {"input": ["a"], "encoding_format": "int8"}),
        ("/predict", {"inputs": 5}),
        ("/predict", {"inputs": [["a", "b", "c"]]}),
        ("/v1/rerank", {"query": "q", "documents": ["a"], "max_chunks_per_doc": 0}),
        ("/rerank", {"query": "q", "texts": ["a"], "raw_scores": "yes"}),  # strict: no guessing at booleans
        ("/rerank", ["query", "texts"]),
    ],
)
def test_bad_payloads_name_the_problem_as_the_server_does(route: str, payload: object) -> None:
    with pytest.raises(ValidationError) as info:
        parse(route, payload, model="m")
    assert info.value.status == 422 and info.value.message
    spec = wire_route(route)
    with pytest.raises(ValidationError) as served:
        spec.to_internal(parse_body(json.dumps(payload).encode(), spec.body), WireContext(model="m"))
    # The same problems at the same places; pydantic words a few types apart ("list"/"array").
    assert _places(info.value.message) == _places(served.value.message)


def _places(message: str) -> list[str]:
    return [problem.split(":")[0] for problem in message.split("; ")]


def test_unknown_route_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="/no/such/route"):
        parse("/no/such/route", {"query": "q", "texts": ["a"]}, model="m")


def test_every_default_route_is_a_server_route_recognised_by_its_keys() -> None:
    for route in ROUTES:
        assert wire_route(route).path == route and ROUTE_KEYS[route]
    assert ROUTE_KEYS["/rerank"] == {"query", "texts"} and ROUTE_KEYS["/v2/rerank"] == {"query", "documents"}


@pytest.mark.parametrize("route", ROUTES)
def test_bundle_requests_are_the_servers(route: str) -> None:
    # The bundle validates decoded JSON, the server raw bytes: strict mode must agree on both.
    example = {
        "/rerank": {"query": "q", "texts": ["a", "b"], "truncate": False, "top_n": 1},
        "/predict": {"inputs": [["q", "a"], ["b"]], "raw_scores": True},
        "/embed": {"inputs": ["a"], "normalize": False},
        "/v1/embeddings": {"input": "a", "dimensions": 8},
        "/v1/rerank": {"query": "q", "documents": [{"text": "a"}], "max_chunks_per_doc": 2},
        "/v2/rerank": {"query": "q", "documents": ["a"], "max_tokens_per_doc": 16},
        "/score": {"text_1": ["q"], "text_2": ["a"]},
    }[route]
    spec = wire_route(route)
    body = parse_body(json.dumps(example).encode(), spec.body)
    assert parse(route, example, model="m").request == spec.to_internal(body, WireContext(model="m"))
