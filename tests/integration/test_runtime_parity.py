"""Runtime scores == direct `transformers` scores (|delta| <= 1e-5, fp32) for every family,
with 1 and 3 labels, through mixed-length token-budget batches and concurrent callers.

The runtime is loaded from the tiny checkpoint directory exactly like a hub model, on CPU
(the fp32 contract; GPU fp16 is checked in tests/gpu), with a small token budget so that
every request spans several padded batches.
"""
from __future__ import annotations

import asyncio

import numpy as np
import pytest

from fixtures import reference
from fixtures.tiny_models import FAMILIES
from rerank_bundle import postprocess as pp
from rerank_bundle.config import load_catalog
from rerank_bundle.service import Reranker
from rerank_bundle.types import RerankRequest

TOL = 1e-5
MAX_LENGTH = 128  # the tiny checkpoints' limit
BUDGET = 256  # padded tokens per forward pass: two full-length items, so batches split
QUERIES = ["what is deep learning", "the capital of france", "is the weather nice today in paris"]
DOCS = [
    "deep learning is a machine learning model",
    "paris is the capital of france",
    "i like pizza",
    "",
    " ".join(["the weather is nice today"] * 6),
    " ".join(["a big dog and a small cat in the house"] * 20),  # longer than the limit: cut
    "python code is fast",
    "ten nine eight seven six five four three two one",
]
MEASURED: dict[str, float] = {}  # max |delta| per checkpoint, printed at the end (-s)


@pytest.fixture(scope="module", params=[(f, n) for f in FAMILIES for n in (1, 3)], ids=lambda p: f"{p[0]}-{p[1]}")
def loaded(request, tiny_checkpoint, catalog_path):
    family, num_labels = request.param
    path = tiny_checkpoint(family, num_labels=num_labels)
    entry = load_catalog(catalog_path).resolve(str(path)).model_copy(update={"max_num_tokens": BUDGET, "max_batch_size": 8})
    batches = []
    ranker = Reranker.load(entry, engine="torch", device="cpu", on_batch=batches.append)
    yield f"{family}-{num_labels}", path, ranker, batches
    ranker.close()


@pytest.fixture(scope="module", autouse=True)
def _report_parity_numbers():
    yield
    if MEASURED:  # shown with -s; the issue asks for the numbers
        print("\nparity max |delta| (fp32, CPU):", {k: f"{v:.1e}" for k, v in sorted(MEASURED.items())})


def record(name: str, delta: float) -> None:
    MEASURED[name] = max(MEASURED.get(name, 0.0), delta)


def relevance_reference(path, query, docs, **options) -> np.ndarray:
    return reference.pair_logits(path, query, docs, max_length=MAX_LENGTH, **options)


def test_rerank_matches_transformers(loaded):
    name, path, ranker, batches = loaded
    assert ranker.engine.name == "torch" and ranker.engine.dtype == "fp32"
    for query in QUERIES:
        logits = relevance_reference(path, query, DOCS)
        raw = {r.index: r.score for r in ranker.rerank(query, DOCS, raw_scores=True)}
        activated = {r.index: r.score for r in ranker.rerank(query, DOCS)}
        delta_raw = max(abs(raw[i] - logits[i, -1]) for i in range(len(DOCS)))
        expected = pp.relevance(logits, raw=False)
        delta_act = max(abs(activated[i] - expected[i]) for i in range(len(DOCS)))
        record(name, max(delta_raw, delta_act))
        assert delta_raw <= TOL and delta_act <= TOL
    assert max(b.padded_tokens for b in batches) <= BUDGET
    assert any(b.size > 1 for b in batches) and any(b.tokens < b.padded_tokens for b in batches)  # real padding


def test_every_label_matches_transformers(loaded):
    name, path, ranker, _ = loaded
    labels = [ranker.spec.label(i) for i in range(ranker.spec.num_labels)]
    pairs = [(QUERIES[i % 3], doc) for i, doc in enumerate(DOCS)]
    predictions = ranker.predict(pairs, raw_scores=True)
    for (query, doc), row in zip(pairs, predictions):
        logits = relevance_reference(path, query, [doc])[0]
        got = np.array([next(s.score for s in row if s.label == label) for label in labels])
        record(name, float(np.abs(got - logits).max()))
        np.testing.assert_allclose(got, logits, atol=TOL, rtol=0)
        activated = {s.label: s.score for s in ranker.predict([(query, doc)])[0]}
        np.testing.assert_allclose([activated[label] for label in labels], pp.activate(logits[None], raw=False)[0], atol=TOL)


def test_left_truncation_and_long_query_match_transformers(loaded):
    name, path, ranker, _ = loaded
    long_doc = " ".join(["one two three four five six seven"] * 30)
    left = ranker.rerank("what is it", [long_doc], raw_scores=True, truncation_direction="Left")[0].score
    expected_left = relevance_reference(path, "what is it", [long_doc], side="left")[0, -1]
    long_query = " ".join(["deep learning model"] * 60)
    fallback = {r.index: r.score for r in ranker.rerank(long_query, DOCS[:3] + [long_doc], raw_scores=True)}
    expected_fallback = relevance_reference(path, long_query, DOCS[:3] + [long_doc], strategy="longest_first")[:, -1]
    deltas = [abs(left - expected_left)] + [abs(fallback[i] - expected_fallback[i]) for i in range(4)]
    record(name, max(deltas))
    assert max(deltas) <= TOL


async def test_concurrent_callers_match_transformers(loaded):
    name, path, ranker, batches = loaded
    before = len(batches)
    requests = [
        RerankRequest(query=QUERIES[i % 3], documents=DOCS[i % 4 :] + DOCS[: i % 4], raw_scores=True)
        for i in range(12)
    ]
    results = await asyncio.gather(*(ranker.rerank_request(r) for r in requests))
    references = {q: relevance_reference(path, q, DOCS)[:, -1] for q in QUERIES}
    for request, result in zip(requests, results):
        shift = DOCS.index(request.documents[0])
        expected = references[request.query]
        delta = max(abs(r.score - expected[(r.index + shift) % len(DOCS)]) for r in result.results)
        record(name, delta)
        assert delta <= TOL and len(result.results) == len(DOCS)
    assert max(b.size for b in batches[before:]) > 1


def test_embedder_matches_manual_mean_pooling(tiny_checkpoint, catalog_path):
    path = tiny_checkpoint("bert", embedder=True)
    entry = load_catalog(catalog_path).resolve(str(path)).model_copy(update={"max_num_tokens": BUDGET})
    with Reranker.load(entry, engine="torch", device="cpu") as ranker:
        assert ranker.kind.value == "embed" and ranker.spec.pooling.mode == "mean"
        texts = QUERIES + DOCS
        got = np.array(ranker.embed(texts))
        expected = reference.mean_pooled(path, texts, max_length=MAX_LENGTH)
        unnormalized = reference.mean_pooled(path, texts, max_length=MAX_LENGTH, normalize=False)
        np.testing.assert_allclose(np.array(ranker.embed(texts, normalize=False)), unnormalized, atol=TOL, rtol=0)
        ranked = ranker.rerank(QUERIES[0], DOCS)
        cosine = expected[3:] @ expected[0]
        delta = max(float(np.abs(got - expected).max()), max(abs(r.score - cosine[r.index]) for r in ranked))
        record("bert-embedder", delta)
        assert delta <= TOL
        assert [r.index for r in ranked] == list(np.argsort(-cosine, kind="stable"))
        assert ranker.score(QUERIES[0], DOCS[:2]) == pytest.approx(cosine[:2].tolist(), abs=TOL)
