"""Every route's happy path and its own errors, over HTTP against the real server."""
from __future__ import annotations

import base64
import math

import httpx
import msgpack
import numpy as np
import pytest

pytestmark = pytest.mark.timeout(120)

QUERY = "what is deep learning"
DOCS = ["deep learning is a subset of machine learning", "i like pizza", "the weather is nice today"]


def scores_sorted(values: list[float]) -> bool:
    return all(a >= b for a, b in zip(values, values[1:], strict=False))


# -- TEI / BEI ----------------------------------------------------------------------------


def test_rerank_bare_array_sorted_with_text_and_top_n(multi: httpx.Client) -> None:
    r = multi.post("/rerank", json={"query": QUERY, "texts": DOCS, "return_text": True, "top_n": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 2
    assert scores_sorted([x["score"] for x in body])
    assert all(DOCS[x["index"]] == x["text"] for x in body)
    assert all(0.0 <= x["score"] <= 1.0 for x in body)
    plain = multi.post("/rerank", json={"query": QUERY, "texts": DOCS}).json()
    assert len(plain) == 3 and all("text" not in x for x in plain)
    assert sorted(x["index"] for x in plain) == [0, 1, 2]


def test_rerank_raw_scores_are_logits(multi: httpx.Client) -> None:
    activated = {x["index"]: x["score"] for x in multi.post("/rerank", json={"query": QUERY, "texts": DOCS}).json()}
    raw_body = multi.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    raw = {x["index"]: x["score"] for x in raw_body}
    for i, logit in raw.items():
        assert math.isclose(1 / (1 + math.exp(-logit)), activated[i], rel_tol=1e-4)


MODELS = ["bert-1label", "xlm-roberta-3label", "modernbert-embed", "deberta-v2-1label", "all-minilm-l6-v2"]


@pytest.mark.parametrize("model", MODELS)
def test_rerank_every_family(multi: httpx.Client, model: str) -> None:
    r = multi.post("/rerank", json={"model": model, "query": QUERY, "texts": DOCS})
    assert r.status_code == 200, r.text
    assert r.headers["x-model-id"] == model
    assert scores_sorted([x["score"] for x in r.json()])


def test_rerank_truncate_false_too_long_is_422_with_counts(multi: httpx.Client) -> None:
    long_doc = " ".join(["music"] * 400)  # tiny models take 128 tokens
    r = multi.post("/rerank", json={"query": QUERY, "texts": [long_doc], "truncate": False})
    assert r.status_code == 422
    assert r.json()["error_type"] == "Validation" and "128" in r.json()["error"]
    ok = multi.post("/rerank", json={"query": QUERY, "texts": [long_doc], "truncate": True, "truncation_direction": "LEFT"})
    assert ok.status_code == 200


def test_predict_single_pair_and_batch(multi: httpx.Client) -> None:
    base = {"model": "xlm-roberta-3label"}
    single = multi.post("/predict", json={**base, "inputs": "i like pizza"}).json()
    assert [set(x) for x in single] == [{"label", "score"}] * 3
    assert {x["label"] for x in single} == {"negative", "neutral", "positive"}
    assert math.isclose(sum(x["score"] for x in single), 1.0, rel_tol=1e-5)
    pair = multi.post("/predict", json={**base, "inputs": ["i like pizza", "pizza is good"]}).json()
    assert isinstance(pair[0], dict) and len(pair) == 3
    batch = multi.post("/predict", json={**base, "inputs": [["i like pizza"], ["a", "b"], "c"]}).json()
    assert len(batch) == 3 and all(len(row) == 3 and scores_sorted([x["score"] for x in row]) for row in batch)
    assert [x["label"] for x in batch[0]] == [x["label"] for x in single]
    assert [x["score"] for x in batch[0]] == pytest.approx([x["score"] for x in single], rel=1e-5)


def test_predict_on_embedding_model_is_422(multi: httpx.Client) -> None:
    r = multi.post("/predict", json={"model": "modernbert-embed", "inputs": "x"})
    assert r.status_code == 422 and "embedding model" in r.json()["error"]


def test_embed_normalized_and_dimensions(multi: httpx.Client) -> None:
    r = multi.post("/embed", json={"model": "all-minilm-l6-v2", "inputs": ["hello", "world"]})
    vectors = np.asarray(r.json())
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    short = np.asarray(multi.post("/embed", json={"model": "all-minilm-l6-v2", "inputs": "hello", "dimensions": 64}).json())
    assert short.shape == (1, 64) and np.isclose(np.linalg.norm(short), 1.0, atol=1e-4)
    raw = np.asarray(multi.post("/embed", json={"model": "all-minilm-l6-v2", "inputs": "hello", "normalize": False}).json())
    assert np.allclose(raw[0] / np.linalg.norm(raw[0]), vectors[0], atol=1e-4)
    bad = multi.post("/embed", json={"model": "all-minilm-l6-v2", "inputs": "x", "dimensions": 1000})
    assert bad.status_code == 422


def test_embed_on_reranker_is_422(multi: httpx.Client) -> None:
    r = multi.post("/embed", json={"model": "bert-1label", "inputs": "x"})
    assert r.status_code == 422 and "not an embedding model" in r.json()["error"]


# -- OpenAI ------------------------------------------------------------------------------


def test_openai_embeddings_float_and_base64_agree(multi: httpx.Client) -> None:
    body = {"model": "modernbert-embed", "input": ["hello world", "deep learning"]}
    floats = multi.post("/v1/embeddings", json=body).json()
    assert floats["object"] == "list" and floats["model"] == "modernbert-embed"
    assert floats["usage"]["prompt_tokens"] > 0 and floats["usage"]["total_tokens"] == floats["usage"]["prompt_tokens"]
    assert [d["index"] for d in floats["data"]] == [0, 1]
    packed = multi.post("/v1/embeddings", json={**body, "encoding_format": "base64"}).json()
    decoded = np.frombuffer(base64.b64decode(packed["data"][1]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, floats["data"][1]["embedding"], atol=1e-6)
    single = multi.post("/v1/embeddings", json={"model": "modernbert-embed", "input": "hello world", "dimensions": 8}).json()
    assert len(single["data"]) == 1 and len(single["data"][0]["embedding"]) == 8


def test_openai_embeddings_rejects_token_arrays_and_bad_format(multi: httpx.Client) -> None:
    assert multi.post("/v1/embeddings", json={"model": "modernbert-embed", "input": [[1, 2, 3]]}).status_code == 422
    bad = multi.post("/v1/embeddings", json={"model": "modernbert-embed", "input": "x", "encoding_format": "int8"})
    assert bad.status_code == 422 and "encoding_format" in bad.json()["error"]


# -- Cohere / Jina / vLLM / OVMS --------------------------------------------------------


def check_cohere(body: dict, version: str, n: int) -> None:
    assert body["meta"]["api_version"]["version"] == version and body["meta"]["billed_units"]["search_units"] == 1
    assert isinstance(body["id"], str) and len(body["results"]) == n
    scores = [r["relevance_score"] for r in body["results"]]
    assert scores_sorted(scores) and all(0.0 <= s <= 1.0 for s in scores)


def test_cohere_v1_object_documents_rank_fields_and_chunks(multi: httpx.Client) -> None:
    docs = [{"title": "pizza", "text": "i like pizza"}, {"title": "dl", "text": "deep learning is machine learning"}]
    body = {"query": QUERY, "documents": docs, "return_documents": True, "rank_fields": ["title", "text"]}
    r = multi.post("/v1/rerank", json=body)
    body = r.json()
    check_cohere(body, "1", 2)
    assert all(res["document"] == docs[res["index"]] for res in body["results"])
    long_doc = "i like pizza " * 60 + "deep learning is a subset of machine learning"
    two_docs = {"query": QUERY, "documents": [long_doc, "the weather"]}
    chunked = multi.post("/v1/rerank", json={**two_docs, "max_chunks_per_doc": 4})
    one = multi.post("/v1/rerank", json={**two_docs, "max_chunks_per_doc": 1})
    assert chunked.status_code == one.status_code == 200
    best = {r["index"]: r["relevance_score"] for r in chunked.json()["results"]}[0]
    first = {r["index"]: r["relevance_score"] for r in one.json()["results"]}[0]
    assert best >= first - 1e-6  # the best of several chunks is at least the first chunk's score


def test_cohere_v1_object_without_text_is_422(multi: httpx.Client) -> None:
    r = multi.post("/v1/rerank", json={"query": QUERY, "documents": [{"title": "x"}]})
    assert r.status_code == 422 and "text" in r.json()["error"]


@pytest.mark.parametrize("path,version", [("/v2/rerank", "2"), ("/v3/rerank", "2")])
def test_cohere_v2_v3(multi: httpx.Client, path: str, version: str) -> None:
    body = {"model": "bert-1label", "query": QUERY, "documents": DOCS, "top_n": 2, "max_tokens_per_doc": 3}
    r = multi.post(path, json=body)
    check_cohere(r.json(), version, 2)
    assert "document" not in r.json()["results"][0]
    with_docs = multi.post(path, json={**body, "return_documents": True}).json()
    assert all(res["document"] == {"text": DOCS[res["index"]]} for res in with_docs["results"])


def test_cohere_scores_of_embedder_stay_in_unit_interval(multi: httpx.Client) -> None:
    body = {"model": "all-minilm-l6-v2", "query": "What is Deep Learning?", "documents": [*DOCS, "The weather is nice today"]}
    r = multi.post("/v2/rerank", json=body)
    check_cohere(r.json(), "2", 4)


@pytest.mark.parametrize("path", ["/score", "/v1/score"])
def test_vllm_score_one_to_n_and_n_to_n(multi: httpx.Client, path: str) -> None:
    one_to_n = multi.post(path, json={"model": "bert-1label", "text_1": QUERY, "text_2": DOCS}).json()
    assert one_to_n["object"] == "list" and [d["index"] for d in one_to_n["data"]] == [0, 1, 2]
    n_to_n = multi.post(path, json={"model": "bert-1label", "text_1": [QUERY] * 3, "text_2": DOCS}).json()
    assert [d["score"] for d in n_to_n["data"]] == pytest.approx([d["score"] for d in one_to_n["data"]], rel=1e-5)
    ranked = {x["index"]: x["score"] for x in multi.post("/rerank", json={"query": QUERY, "texts": DOCS}).json()}
    assert [d["score"] for d in one_to_n["data"]] == pytest.approx([ranked[i] for i in range(3)], rel=1e-5)
    assert one_to_n["usage"]["prompt_tokens"] > 0
    mismatch = multi.post(path, json={"text_1": ["a", "b"], "text_2": ["a", "b", "c"]})
    assert mismatch.status_code == 422


# -- NIM ---------------------------------------------------------------------------------


def test_nim_ranking_returns_raw_logits(multi: httpx.Client) -> None:
    body = {"model": "bert-1label", "query": {"text": QUERY}, "passages": [{"text": d} for d in DOCS], "truncate": "END"}
    rankings = multi.post("/v1/ranking", json=body).json()["rankings"]
    raw = multi.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    assert [(x["index"], x["logit"]) for x in rankings] == [(x["index"], pytest.approx(x["score"], rel=1e-5)) for x in raw]
    assert multi.post("/v1/ranking", json={**body, "truncate": "START"}).status_code == 422


# -- models, info, health, metrics, docs ------------------------------------------------


def test_model_selection(multi: httpx.Client) -> None:
    r = multi.post("/rerank", json={"model": "no-such-model", "query": "q", "texts": ["a"]})
    assert r.status_code == 404 and r.json()["error_type"] == "NotFound"
    assert "bert-1label" in r.json()["error"] and "all-minilm-l6-v2" in r.json()["error"]
    by_case = multi.post("/rerank", json={"model": "ALL-MiniLM-L6-v2", "query": "q", "texts": ["a"]})
    assert by_case.headers["x-model-id"] == "all-minilm-l6-v2"
    absent = multi.post("/rerank", json={"query": "q", "texts": ["a"]})
    assert absent.headers["x-model-id"] == "bert-1label"  # the first model is the default


def test_single_model_accepts_any_model_name(auth_server, ) -> None:
    headers = {"Authorization": "Bearer key-one"}
    for model in ("rerank-v3.5", None, "BAAI/bge-reranker-base"):
        body = {"query": "q", "documents": ["a", "b"], **({"model": model} if model else {})}
        r = httpx.post(f"{auth_server.url}/v2/rerank", json=body, headers=headers)
        assert r.status_code == 200 and r.json()["model"] == "bert-1label"


def test_info_models_health(multi: httpx.Client) -> None:
    info = multi.get("/info").json()
    keys = ("model_id", "kind", "dtype", "engine", "max_input_length", "max_batch_tokens", "max_client_batch_size", "version")
    assert all(key in info for key in keys)
    assert [m["model_id"] for m in info["models"]] == MODELS
    assert info["models"][-1]["pair_scoring"] == "cosine" and info["models"][-1]["kind"] == "embed"
    models = multi.get("/v1/models").json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]] == [m["model_id"] for m in info["models"]]
    assert multi.get("/health").json()["status"] == "ok"


def test_metrics_count_requests_batches_and_phases(multi: httpx.Client) -> None:
    multi.post("/rerank", json={"model": "bert-1label", "query": QUERY, "texts": DOCS})
    multi.post("/rerank", json={"model": "bert-1label", "query": QUERY, "texts": []})
    text = multi.get("/metrics").text
    assert 'rerank_bundle_requests_total{route="/rerank",status="200"}' in text
    assert 'rerank_bundle_request_failures_total{error_type="Empty",route="/rerank"}' in text
    for name in ("batch_size", "batch_tokens", "tokenization_seconds", "queue_seconds", "inference_seconds"):
        assert f'rerank_bundle_{name}_count{{model="bert-1label"}}' in text
    assert 'rerank_bundle_queue_size{model="bert-1label"}' in text


def test_openapi_and_docs(multi: httpx.Client) -> None:
    spec = multi.get("/openapi.json").json()
    wire = ("/rerank", "/predict", "/embed", "/v1/embeddings", "/v1/rerank", "/v2/rerank", "/v3/rerank", "/score", "/v1/score")
    for path in (*wire, "/v1/ranking", "/async/rerank"):
        assert "post" in spec["paths"][path], path
    ref = spec["paths"]["/rerank"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert spec["components"]["schemas"][ref.rsplit("/", 1)[1]]["required"] == ["query", "texts"]
    assert "TextObject" in spec["components"]["schemas"]
    assert multi.get("/docs").status_code == 200 and "swagger" in multi.get("/docs").text.lower()


# -- cross-cutting -----------------------------------------------------------------------


def test_headers_request_id_and_timings(multi: httpx.Client) -> None:
    r = multi.post("/rerank", json={"query": QUERY, "texts": DOCS}, headers={"X-Request-ID": "trace-123"})
    assert r.headers["x-request-id"] == "trace-123"
    for header in ("x-compute-time", "x-compute-tokens", "x-tokenization-time", "x-queue-time", "x-inference-time"):
        assert int(r.headers[header]) >= 0
    assert int(r.headers["x-compute-tokens"]) > 0
    assert r.headers["x-compute-type"].startswith(("cpu", "cuda"))
    fresh = multi.post("/rerank", json={"query": QUERY, "texts": DOCS}, headers={"X-Request-ID": "bad id\twith spaces"})
    assert fresh.headers["x-request-id"] != "bad id\twith spaces" and len(fresh.headers["x-request-id"]) == 32


def test_unknown_fields_are_ignored(multi: httpx.Client) -> None:
    extra = {"foo": 1, "nested": {"a": [1, 2]}, "priority": 3, "stream": False}
    cases = [
        ("/rerank", {"query": QUERY, "texts": DOCS}), ("/v1/rerank", {"query": QUERY, "documents": DOCS}),
        ("/v2/rerank", {"query": QUERY, "documents": DOCS}), ("/score", {"text_1": QUERY, "text_2": DOCS}),
        ("/v1/ranking", {"query": {"text": QUERY, "x": 1}, "passages": [{"text": "a", "id": 7}]}),
        ("/predict", {"model": "xlm-roberta-3label", "inputs": "a"}),
        ("/embed", {"model": "modernbert-embed", "inputs": "a"}),
        ("/v1/embeddings", {"model": "modernbert-embed", "input": "a", "user": "u"}),
    ]
    for path, body in cases:
        assert multi.post(path, json={**body, **extra}).status_code == 200, path


def test_msgpack_when_accepted(multi: httpx.Client) -> None:
    body = {"model": "modernbert-embed", "input": ["a", "b"]}
    as_json = multi.post("/v1/embeddings", json=body).json()
    r = multi.post("/v1/embeddings", json=body, headers={"Accept": "application/json, application/msgpack"})
    assert r.headers["content-type"] == "application/msgpack"
    unpacked = msgpack.unpackb(r.content)
    assert unpacked["usage"] == as_json["usage"]
    assert np.allclose(unpacked["data"][0]["embedding"], as_json["data"][0]["embedding"])
    x = multi.post("/rerank", json={"query": "q", "texts": ["a"]}, headers={"Accept": "application/x-msgpack"})
    assert x.headers["content-type"] == "application/x-msgpack" and msgpack.unpackb(x.content)[0]["index"] == 0
    for accept in ("application/json, application/msgpack;q=0.5", "*/*", "application/msgpack;q=0"):
        r = multi.post("/rerank", json={"query": "q", "texts": ["a"]}, headers={"Accept": accept})
        assert r.headers["content-type"] == "application/json", accept
