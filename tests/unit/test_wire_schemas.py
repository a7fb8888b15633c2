"""Wire-format converters, without a model: bodies in, internal requests out, and back."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from rerank_bundle.errors import EmptyInputError, ValidationError
from rerank_bundle.schemas import WIRE_ROUTES, WireContext, cohere, nim, openai, tei, vllm
from rerank_bundle.types import EmbedResult, RankedDocument, RerankResult, TruncationDirection

CTX = WireContext(model="m", truncate_default=True, request_id="rid")


def test_every_route_is_unique_and_documented() -> None:
    paths = [r.path for r in WIRE_ROUTES]
    assert len(paths) == len(set(paths)) == 10
    assert all(r.summary and r.family and r.response_schema is not None for r in WIRE_ROUTES)


@pytest.mark.parametrize("inputs,expected", [
    ("a", [("a",)]),
    (["a", "b"], [("a", "b")]),                     # two strings are ONE pair (TEI's rule)
    (["a", "b", "c"], [("a",), ("b",), ("c",)]),
    (["a"], [("a",)]),
    ([["a"], ["a", "b"], "c"], [("a",), ("a", "b"), ("c",)]),
])
def test_predict_input_shapes(inputs, expected) -> None:
    assert tei.predict_inputs(inputs) == expected


def test_predict_rejects_triples() -> None:
    with pytest.raises(ValidationError, match=r"inputs\[1\]"):
        tei.predict_inputs([["a"], ["a", "b", "c"]])


def test_tei_truncation_defaults_and_direction() -> None:
    body = tei.RerankBody.model_validate_json(b'{"query": "q", "texts": ["a"], "truncation_direction": "LEFT", "x": 1}')
    request = tei.rerank_to_internal(body, CTX)
    assert request.truncation.truncate is True and request.truncation.direction is TruncationDirection.LEFT
    explicit = tei.RerankBody.model_validate_json(b'{"query": "q", "texts": ["a"], "truncate": false}')
    assert tei.rerank_to_internal(explicit, WireContext(model="m", truncate_default=True)).truncation.truncate is False


def test_tei_rerank_wire_has_text_only_when_asked() -> None:
    result = RerankResult(results=[RankedDocument(index=1, score=0.9, text="b")], prompt_tokens=3)
    with_text = tei.RerankBody(query="q", texts=["a", "b"], return_text=True)
    assert tei.rerank_to_wire(with_text, result, CTX) == [{"index": 1, "score": 0.9, "text": "b"}]
    assert tei.rerank_to_wire(tei.RerankBody(query="q", texts=["a", "b"]), result, CTX) == [{"index": 1, "score": 0.9}]


def test_cohere_documents_and_rank_fields() -> None:
    assert cohere.document_text("plain", 0) == "plain"
    assert cohere.document_text({"text": "t", "title": "x"}, 0) == "t"
    assert cohere.document_text({"title": "T", "text": "t"}, 0, ["title", "text"]) == "title: T\ntext: t"
    with pytest.raises(ValidationError, match="documents\\[3\\]"):
        cohere.document_text({"title": "no text"}, 3)
    with pytest.raises(ValidationError):
        cohere.document_text({"title": 5}, 0, ["title"])


def test_cohere_scores_clamped_and_documents_returned() -> None:
    body = cohere.V2Body(query="q", documents=["a", "b"], return_documents=True)
    result = RerankResult(results=[RankedDocument(index=1, score=0.4), RankedDocument(index=0, score=-0.2)], prompt_tokens=5)
    wire = cohere.v2_to_wire(body, result, CTX)
    assert [r["relevance_score"] for r in wire["results"]] == [0.4, 0.0]
    assert wire["results"][0]["document"] == {"text": "b"} and wire["meta"]["api_version"]["version"] == "2"
    assert wire["usage"] == {"prompt_tokens": 5, "total_tokens": 5} and wire["id"] == "rid"
    many = cohere.V1Body(query="q", documents=["d"] * 250)
    assert cohere.v1_to_wire(many, RerankResult(results=[], prompt_tokens=0), CTX)["meta"]["billed_units"]["search_units"] == 3


def test_openai_base64_is_little_endian_float32() -> None:
    body = openai.EmbeddingsBody(input="x", encoding_format="base64")
    wire = openai.to_wire(body, EmbedResult(embeddings=[[1.0, -2.5]], prompt_tokens=2), CTX)
    assert np.frombuffer(base64.b64decode(wire["data"][0]["embedding"]), "<f4").tolist() == [1.0, -2.5]


def test_vllm_empty_lists_are_400_and_strings_broadcast() -> None:
    with pytest.raises(EmptyInputError):
        vllm.to_internal(vllm.ScoreBody(text_1="a", text_2=[]), CTX)
    request = vllm.to_internal(vllm.ScoreBody(text_1="a", text_2=["x", "y"]), CTX)
    assert list(request.text_1) == ["a"] and list(request.text_2) == ["x", "y"]


def test_nim_truncate_and_raw_scores() -> None:
    body = nim.RankingBody.model_validate({"query": {"text": "q"}, "passages": [{"text": "p"}], "truncate": "NONE"})
    request = nim.to_internal(body, CTX)
    assert request.raw_scores is True and request.truncation.truncate is False
    assert nim.to_internal(body.model_copy(update={"truncate": None}), CTX).truncation.truncate is True
