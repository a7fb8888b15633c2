"""Reranker's request handling (validation, mixed inputs, ranking, cosine mode) over the
numpy engine, so every score can be recomputed from the token ids by hand."""
from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from fixtures.numpy_engine import NumpyEngine
from rerank_bundle import postprocess as pp
from rerank_bundle.config import ModelEntry, ModelSource
from rerank_bundle.errors import EmptyInputError, PayloadTooLargeError, ValidationError
from rerank_bundle.loading import ModelSpec, PoolingConfig
from rerank_bundle.service import Reranker
from rerank_bundle.tokenization import TextTokenizer
from rerank_bundle.types import ModelKind, RerankRequest, TruncationOptions

SCALE = 0.001  # keeps sigmoid away from saturation for sums of tiny-vocabulary ids
DOCS = ["the cat", "deep learning is a machine learning", "dog", "a big dog and a small cat"]


@pytest.fixture(scope="module")
def make(bert_tokenizer):
    made: list[Reranker] = []

    def build(kind: ModelKind = ModelKind.RERANK, *, width: int = 1, max_length: int = 32, **settings) -> Reranker:
        entry = ModelEntry(name="unit", source=ModelSource(path="/unused"), **settings)
        spec = ModelSpec(
            entry=entry, path=Path("/unused"), kind=kind, model_type="bert", architecture="BertForSequenceClassification",
            max_length=max_length, hidden_size=width, num_layers=1, intermediate_size=1,
            num_labels=0 if kind is ModelKind.EMBED else width, uses_token_type_ids=True,
            id2label={0: "neg", 1: "neu", 2: "pos"} if width == 3 else {},
            pooling=PoolingConfig() if kind is ModelKind.EMBED else None,
        )
        tokenizer = TextTokenizer(bert_tokenizer.backend_tokenizer, max_length=max_length)
        ranker = Reranker(spec, tokenizer, NumpyEngine(width=width, scale=SCALE))
        made.append(ranker)
        return ranker

    yield build
    for ranker in made:
        ranker.close()


def raw(ranker: Reranker, item_ids: list[int]) -> np.ndarray:
    return NumpyEngine.expected(item_ids, width=ranker.engine.width, scale=SCALE)


def test_rerank_scores_sorts_and_cuts(make):
    ranker = make()
    items = ranker.tokenizer.encode_pairs("what is it", DOCS, truncation=TruncationOptions())
    logits = np.array([raw(ranker, it.input_ids)[0] for it in items])
    ranked = ranker.rerank("what is it", DOCS, raw_scores=True, return_text=True)
    assert [r.index for r in ranked] == list(np.argsort(-logits, kind="stable"))
    assert [r.score for r in ranked] == pytest.approx(sorted(logits, reverse=True), abs=1e-6)
    assert all(r.text == DOCS[r.index] for r in ranked)
    activated = ranker.rerank("what is it", DOCS, top_n=2)
    assert [r.index for r in activated] == [r.index for r in ranked[:2]]
    assert [r.score for r in activated] == pytest.approx(pp.sigmoid(np.array([r.score for r in ranked[:2]])))
    assert all(r.text is None for r in activated)
    assert ranker.rerank("what is it", DOCS, top_n=0) == []


def test_predict_mixes_singles_and_pairs_in_input_order(make):
    ranker = make(ModelKind.CLASSIFY, width=3)
    inputs = ["a cat", ("a cat", "a dog"), ["dog"], ("what", "the weather is nice today")]
    tok, opts = ranker.tokenizer, TruncationOptions()
    expected_items = [
        tok.encode_texts(["a cat"], truncation=opts)[0],
        tok.encode_text_pairs([("a cat", "a dog")], truncation=opts)[0],
        tok.encode_texts(["dog"], truncation=opts)[0],
        tok.encode_text_pairs([("what", "the weather is nice today")], truncation=opts)[0],
    ]
    predictions = ranker.predict(inputs, raw_scores=True)
    for row, it in zip(predictions, expected_items):
        assert [s.label for s in row] == ["pos", "neu", "neg"]  # label k scores sum + k
        assert [s.score for s in row] == pytest.approx(raw(ranker, it.input_ids)[::-1], abs=1e-6)
    activated = ranker.predict(inputs)
    for row in activated:
        assert sum(s.score for s in row) == pytest.approx(1.0)


def test_predict_rejects_three_texts(make):
    with pytest.raises(ValidationError, match=r"inputs\[1\] must be one text or a pair"):
        make(ModelKind.CLASSIFY, width=3).predict(["a", ("a", "b", "c")])


@pytest.mark.parametrize("call", [
    lambda r: r.rerank("q", []),
    lambda r: r.predict([]),
    lambda r: r.score("q", []),
    lambda r: r.score([], ["a"]),
])
def test_empty_inputs(make, call):
    with pytest.raises(EmptyInputError):
        call(make())


def test_empty_embed_inputs(make):
    with pytest.raises(EmptyInputError):
        make(ModelKind.EMBED, width=4).embed([])


def test_max_client_batch_size(make):
    ranker = make(max_client_batch_size=3)
    assert len(ranker.rerank("q", ["a", "b", "c"])) == 3
    with pytest.raises(PayloadTooLargeError, match="4 documents.*limit is 3") as err:
        ranker.rerank("q", ["a", "b", "c", "d"])
    assert err.value.status == 413


@pytest.mark.parametrize("options, message", [
    ({"top_n": -1}, "top_n must be >= 0"),
    ({"max_tokens_per_doc": 0}, "max_tokens_per_doc must be >= 1"),
    ({"max_chunks_per_doc": 0}, "max_chunks_per_doc must be >= 1"),
    ({"truncation_direction": "middle"}, "'Left' or 'Right'"),
])
def test_bad_options_are_validation_errors(make, options, message):
    with pytest.raises(ValidationError, match=message):
        make().rerank("q", ["a"], **options)


def test_truncate_false_is_a_422_with_count_and_limit(make):
    ranker = make(max_length=16)
    with pytest.raises(ValidationError, match=r"query \+ document 1 is 26 tokens .* limit of 16") as err:
        ranker.rerank("what is it", ["ok", " ".join(["dog"] * 20)], truncate=False)
    assert err.value.status == 422
    assert len(ranker.rerank("what is it", ["ok", " ".join(["dog"] * 20)])) == 2  # truncate=True cuts


def test_truncation_direction_any_case_reaches_the_tokenizer(make):
    ranker = make(max_length=12)
    doc = "one two three four five six seven eight nine ten"
    left = ranker.rerank("q", [doc], truncation_direction="LEFT", raw_scores=True)[0].score
    right = ranker.rerank("q", [doc], truncation_direction="Right", raw_scores=True)[0].score
    assert left != right


def test_chunk_and_max(make):
    ranker = make(max_length=12)  # 3 specials + 1 query token leave 8 per chunk
    tok = ranker.tokenizer
    words = ("the", "ten", "a")
    doc = " ".join(w for w in words for _ in range(8))
    query = tok._ids(["q"])[0]
    chunk_scores = [raw(ranker, tok._pair.apply(query, tok._ids([w])[0] * 8).input_ids)[0] for w in words]
    [best] = ranker.rerank("q", [doc, "a"], raw_scores=True, max_chunks_per_doc=3, top_n=1)
    assert (best.index, best.score) == (0, pytest.approx(max(chunk_scores), abs=1e-6))
    [first_only] = ranker.rerank("q", [doc], raw_scores=True, max_chunks_per_doc=1)
    assert first_only.score == pytest.approx(chunk_scores[0], abs=1e-6)
    [two] = ranker.rerank("q", [doc], raw_scores=True, max_chunks_per_doc=2)
    assert two.score == pytest.approx(max(chunk_scores[:2]), abs=1e-6)


def test_score_broadcasts_one_to_many(make):
    ranker = make()
    one_to_many = ranker.score("what", ["a cat", "dog"])
    pairwise = ranker.score(["what", "what"], ["a cat", "dog"])
    assert one_to_many == pairwise and len(pairwise) == 2
    with pytest.raises(ValidationError, match="1 to N or N to N"):
        ranker.score(["a", "b"], ["a", "b", "c"])


def test_embed_normalizes_and_cuts_dimensions(make):
    ranker = make(ModelKind.EMBED, width=4)
    ids = ranker.tokenizer.encode_texts(["a cat"], truncation=TruncationOptions())[0].input_ids
    vector = raw(ranker, ids)
    [plain] = ranker.embed(["a cat"], normalize=False)
    [unit] = ranker.embed(["a cat"])
    [short] = ranker.embed(["a cat"], dimensions=2)
    np.testing.assert_allclose(plain, vector, rtol=1e-6)
    np.testing.assert_allclose(unit, vector / np.linalg.norm(vector), rtol=1e-6)
    np.testing.assert_allclose(short, vector[:2] / np.linalg.norm(vector[:2]), rtol=1e-6)
    for bad in (0, 5):
        with pytest.raises(ValidationError, match="dimensions must be between 1 and 4"):
            ranker.embed(["a"], dimensions=bad)


def test_kind_mismatches_are_validation_errors(make):
    with pytest.raises(ValidationError, match="not an embedding model"):
        make().embed(["a"])
    with pytest.raises(ValidationError, match="embedding model"):
        make(ModelKind.EMBED, width=4).predict(["a"])


def test_embedder_reranks_by_cosine(make):
    ranker = make(ModelKind.EMBED, width=4)
    items = ranker.tokenizer.encode_texts(["what is it", *DOCS], truncation=TruncationOptions())
    vectors = np.stack([raw(ranker, it.input_ids) for it in items])
    expected = pp.cosine_scores(vectors[0], vectors[1:])
    ranked = ranker.rerank("what is it", DOCS)
    assert [r.index for r in ranked] == list(np.argsort(-expected, kind="stable"))
    assert [r.score for r in ranked] == pytest.approx(sorted(expected, reverse=True), abs=1e-6)
    with pytest.raises(ValidationError, match=r"^query is \d+ tokens"):
        make(ModelKind.EMBED, width=4, max_length=8).rerank(" ".join(["dog"] * 10), ["a"], truncate=False)


async def test_concurrent_async_requests_report_usage(make):
    ranker = make()
    requests = [RerankRequest(query=f"query {i}", documents=DOCS[: 1 + i % 4], raw_scores=True) for i in range(12)]
    results = await asyncio.gather(*(ranker.rerank_request(r) for r in requests))
    for request, result in zip(requests, results):
        sync = ranker.rerank(request.query, request.documents, raw_scores=True)
        assert result.results == sync
        items = ranker.tokenizer.encode_pairs(request.query, request.documents, truncation=TruncationOptions())
        assert result.prompt_tokens == sum(len(it) for it in items)
        assert result.timings.inference_seconds >= 0 and result.timings.tokenization_seconds > 0


def test_info_describes_the_model(make):
    info = make(ModelKind.CLASSIFY, width=3).info()
    assert info["kind"] == "classify" and info["labels"] == ["neg", "neu", "pos"] and info["engine"] == "numpy"
    assert info["pair_scoring"] == "cross-encoder" and info["max_input_length"] == 32


def test_length_errors_name_the_callers_index_in_mixed_inputs(make):
    ranker = make(ModelKind.CLASSIFY, width=3, max_length=16)
    long_text = " ".join(["dog"] * 20)
    with pytest.raises(ValidationError, match=r"^input 2 is 26 tokens"):
        ranker.predict(["a", ("a", "b"), ("what is it", long_text)], truncate=False)
    with pytest.raises(ValidationError, match=r"^input 1 is 22 tokens"):
        ranker.predict([("a", "b"), long_text], truncate=False)
