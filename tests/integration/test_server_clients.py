"""The real client libraries against the real server, unchanged but for the base URL."""
from __future__ import annotations

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.timeout(180)

SEED_QUERY = "What is Deep Learning?"
SEED_DOCS = [
    "Deep Learning is not...", "Deep learning is a subset of machine learning...", "I like pizza", "The weather is nice today",
]


def test_cohere_v1_client_rerank(multi_server) -> None:
    import cohere

    client = cohere.Client(base_url=multi_server.url, api_key="unused")
    response = client.rerank(model="all-minilm-l6-v2", query=SEED_QUERY, documents=SEED_DOCS, top_n=3, return_documents=True)
    assert response.results[0].index == 1
    assert {r.index for r in response.results} == {0, 1, 2}  # the weather document is cut by top_n
    assert response.results[0].document.text == SEED_DOCS[1]
    assert response.meta.api_version.version == "1"
    scores = [r.relevance_score for r in response.results]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)


def test_cohere_v2_client_rerank(multi_server) -> None:
    import cohere

    client = cohere.ClientV2(base_url=multi_server.url, api_key="unused")
    response = client.rerank(model="all-minilm-l6-v2", query=SEED_QUERY, documents=SEED_DOCS, max_tokens_per_doc=64)
    order = [r.index for r in response.results]
    assert set(order[-2:]) == {2, 3}  # pizza and weather last
    assert response.id and response.meta.billed_units.search_units == 1


def test_cohere_client_sees_errors_as_exceptions(multi_server) -> None:
    import cohere
    from cohere.core.api_error import ApiError

    client = cohere.ClientV2(base_url=multi_server.url, api_key="unused")
    with pytest.raises(ApiError) as info:
        client.rerank(model="no-such-model", query="q", documents=["a"])
    assert info.value.status_code == 404 and "loaded models" in info.value.body["error"]


def test_baseten_performance_client_rerank_classify_embed(multi_server) -> None:
    from baseten_performance_client import PerformanceClient

    client = PerformanceClient(base_url=multi_server.url, api_key="unused")
    # 20 texts: the client splits them into requests of 8 and merges the answers.
    texts = [f"document number {i} about {'deep learning' if i % 5 == 0 else 'pizza'}" for i in range(20)]
    ranked = client.rerank(query="deep learning", texts=texts, model="all-minilm-l6-v2", return_text=True, truncate=True)
    assert sorted(r.index for r in ranked.data) == list(range(20))
    assert all(r.text == texts[r.index] for r in ranked.data)
    classified = client.classify(inputs=texts, model="xlm-roberta-3label")
    assert len(classified.data) == 20
    assert all({c.label for c in group} == {"negative", "neutral", "positive"} for group in classified.data)
    embedded = client.embed(input=texts, model="all-minilm-l6-v2")
    vectors = embedded.numpy()
    assert vectors.shape == (20, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    direct = httpx.post(f"{multi_server.url}/v1/embeddings", json={"model": "all-minilm-l6-v2", "input": texts[:1]}).json()
    assert np.allclose(vectors[0], direct["data"][0]["embedding"], atol=1e-5)
    assert embedded.usage.prompt_tokens > 0


def test_baseten_performance_client_raises_on_4xx(multi_server) -> None:
    from baseten_performance_client import PerformanceClient

    client = PerformanceClient(base_url=multi_server.url, api_key="unused")
    long_text = " ".join(["music"] * 400)
    with pytest.raises(Exception) as info:  # the client sends truncate=false; too long is a 422
        client.rerank(query="q", texts=[long_text], model="bert-1label")
    assert "422" in str(info.value)


def test_openai_embeddings_create(multi_server) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{multi_server.url}/v1", api_key="unused", max_retries=0)
    # The SDK asks for base64 unless told otherwise.
    default = client.embeddings.create(model="all-minilm-l6-v2", input=["hello world", "deep learning"])
    floats = client.embeddings.create(model="all-minilm-l6-v2", input="hello world", encoding_format="float")
    assert len(default.data) == 2 and len(default.data[0].embedding) == 384
    assert np.allclose(default.data[0].embedding, floats.data[0].embedding, atol=1e-6)
    assert default.usage.prompt_tokens > 0
    small = client.embeddings.create(model="all-minilm-l6-v2", input="hi", dimensions=32)
    assert len(small.data[0].embedding) == 32
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-3-small", input="x")
