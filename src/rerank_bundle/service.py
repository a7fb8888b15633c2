"""`Reranker`: the runtime as a library object. Tokenize → batch queue → engine → postprocess.

Every operation is written once as a *plan*: `_plan_*` validates and tokenizes (CPU) and
returns the items for the engine plus a `finish` function that postprocesses their rows.
The async methods (used by the server) run the plan's CPU part in a thread and await the
batcher; the sync methods (the Python API, the CLI) block on the same batcher.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from . import postprocess as pp
from .batching import BatchStats, ItemOutputs, TokenBudgetBatcher
from .config import Catalog, ModelEntry, Precision, catalog_for
from .engines.base import Engine, EngineReport
from .errors import ConfigError, EmptyInputError, PayloadTooLargeError, ValidationError
from .loading import ModelSpec, inspect_checkpoint
from .tokenization import EncodedItem, TextTokenizer
from .types import (
    EmbedRequest, EmbedResult, LabelScore, ModelKind, PredictRequest, PredictResult, RankedDocument,
    RerankRequest, RerankResult, ScoreRequest, ScoreResult, Timings, TruncationDirection, TruncationOptions,
)

log = logging.getLogger(__name__)
__version__ = "0.1.0"


@dataclass(frozen=True)
class _Plan:
    items: list[EncodedItem]
    finish: Callable[[np.ndarray], Any]
    tokenize_seconds: float


class Reranker:
    """A loaded model with its tokenizer, engine and batch queue."""

    def __init__(
        self, spec: ModelSpec, tokenizer: TextTokenizer, engine: Engine, *, report: EngineReport | None = None,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self.spec = spec
        self.tokenizer = tokenizer
        self.engine = engine
        self.report = report or EngineReport(chosen=engine.name)
        entry = spec.entry
        self.max_num_tokens = max(entry.max_num_tokens, spec.max_length)  # one item always fits
        self.batcher = TokenBudgetBatcher(
            engine, max_num_tokens=self.max_num_tokens, max_batch_size=entry.max_batch_size,
            max_queue_requests=entry.max_queue_requests, pad_token_id=tokenizer.pad_token_id,
            use_token_types=spec.uses_token_type_ids, on_batch=on_batch,
        )

    @classmethod
    def load(
        cls, model: str | ModelEntry | None = None, *, catalog: Catalog | None = None, engine: str | None = None,
        device: str | None = None, precision: Precision | str | None = None,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> "Reranker":
        """Load a catalog name, hub id or local directory (default: the catalog's default model)."""
        from .engines.select import select_engine

        if isinstance(model, ModelEntry):
            entry = model
        else:
            catalog = catalog or catalog_for(model)
            entry = catalog.resolve(model or catalog.default_model)
        spec = inspect_checkpoint(entry)
        tokenizer = TextTokenizer.from_pretrained(spec.path, max_length=spec.max_length, trust_remote_code=spec.trust_remote_code)
        chosen, report = select_engine(
            spec, engine=engine or entry.engine, device=device, precision=_precision(precision or entry.precision)
        )
        return cls(spec, tokenizer, chosen, report=report, on_batch=on_batch)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> ModelKind:
        return self.spec.kind

    def info(self) -> dict[str, Any]:
        return {
            "model_id": self.spec.name, "source": self.spec.entry.source.describe(), "kind": self.kind.value,
            "architecture": self.spec.architecture, "engine": self.engine.name, "device": self.engine.device,
            "dtype": self.engine.dtype, "engine_selection": self.report.as_dict(),
            "max_input_length": self.spec.max_length, "max_batch_tokens": self.max_num_tokens,
            "max_batch_size": self.batcher.max_batch_size, "max_client_batch_size": self.spec.entry.max_client_batch_size,
            "max_queue_requests": self.spec.entry.max_queue_requests,
            "labels": [self.spec.label(i) for i in range(self.spec.num_labels)],
            "pair_scoring": "cosine" if self.kind is ModelKind.EMBED else "cross-encoder",
            "version": __version__,
        }

    def close(self) -> None:
        self.batcher.close()
        self.engine.close()

    def __enter__(self) -> "Reranker":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- async API (server) ---------------------------------------------------------------

    async def rerank_request(self, request: RerankRequest) -> RerankResult:
        return await self._arun(self._plan_rerank, request)

    async def predict_request(self, request: PredictRequest) -> PredictResult:
        return await self._arun(self._plan_predict, request)

    async def embed_request(self, request: EmbedRequest) -> EmbedResult:
        return await self._arun(self._plan_embed, request)

    async def score_request(self, request: ScoreRequest) -> ScoreResult:
        return await self._arun(self._plan_score, request)

    async def _arun(self, planner: Callable[[Any], _Plan], request: Any) -> Any:
        plan = await asyncio.to_thread(self._timed_plan, planner, request)
        outputs = await self.batcher.run(plan.items)
        return await asyncio.to_thread(self._finish, plan, outputs)

    def _run(self, planner: Callable[[Any], _Plan], request: Any) -> Any:
        plan = self._timed_plan(planner, request)
        return self._finish(plan, self.batcher.submit(plan.items).result())

    @staticmethod
    def _timed_plan(planner: Callable[[Any], _Plan], request: Any) -> _Plan:
        start = time.perf_counter()
        plan = planner(request)
        return _Plan(plan.items, plan.finish, time.perf_counter() - start)

    @staticmethod
    def _finish(plan: _Plan, outputs: ItemOutputs) -> Any:
        timings = Timings(
            tokenization_seconds=plan.tokenize_seconds, queue_seconds=outputs.queue_seconds,
            inference_seconds=outputs.inference_seconds,
        )
        return plan.finish(outputs.rows, timings=timings, prompt_tokens=sum(len(i) for i in plan.items))

    # -- sync API (library, CLI) ----------------------------------------------------------

    def rerank(
        self, query: str, documents: Sequence[str], *, top_n: int | None = None, raw_scores: bool = False,
        truncate: bool = True, truncation_direction: str = "right", return_text: bool = False,
        max_chunks_per_doc: int | None = None, max_tokens_per_doc: int | None = None,
    ) -> list[RankedDocument]:
        request = RerankRequest(
            query=query, documents=documents, top_n=top_n, raw_scores=raw_scores, return_text=return_text,
            truncation=_truncation(truncate, truncation_direction), max_chunks_per_doc=max_chunks_per_doc,
            max_tokens_per_doc=max_tokens_per_doc,
        )
        return self._run(self._plan_rerank, request).results

    def predict(
        self, inputs: Sequence[str | Sequence[str]], *, raw_scores: bool = False, truncate: bool = True,
        truncation_direction: str = "right",
    ) -> list[list[LabelScore]]:
        tuples = [(x,) if isinstance(x, str) else tuple(x) for x in inputs]
        request = PredictRequest(inputs=tuples, raw_scores=raw_scores, truncation=_truncation(truncate, truncation_direction))
        return self._run(self._plan_predict, request).predictions

    def embed(
        self, texts: Sequence[str], *, normalize: bool = True, dimensions: int | None = None, truncate: bool = True,
        truncation_direction: str = "right",
    ) -> list[list[float]]:
        request = EmbedRequest(
            texts=texts, normalize=normalize, dimensions=dimensions, truncation=_truncation(truncate, truncation_direction)
        )
        return self._run(self._plan_embed, request).embeddings

    def score(self, text_1: str | Sequence[str], text_2: str | Sequence[str]) -> list[float]:
        request = ScoreRequest(text_1=_as_list(text_1), text_2=_as_list(text_2))
        return self._run(self._plan_score, request).scores

    # -- plans ----------------------------------------------------------------------------

    def _check_count(self, count: int, what: str) -> None:
        if count == 0:
            raise EmptyInputError(f"`{what}` is empty: send at least one")
        limit = self.spec.entry.max_client_batch_size
        if count > limit:
            raise PayloadTooLargeError(f"{count} {what} in one request; the limit is {limit} (max_client_batch_size)")

    def _plan_rerank(self, req: RerankRequest) -> _Plan:
        self._check_count(len(req.documents), "documents")
        _at_least("top_n", req.top_n, 0)
        _at_least("max_tokens_per_doc", req.max_tokens_per_doc, 1)
        _at_least("max_chunks_per_doc", req.max_chunks_per_doc, 1)
        texts = list(req.documents) if req.return_text else None
        n_docs = len(req.documents)
        if self.kind is ModelKind.EMBED:
            names = ["query", *(f"document {i}" for i in range(n_docs))]
            items = self.tokenizer.encode_texts([req.query, *req.documents], truncation=req.truncation, names=names)

            def finish_cosine(rows: np.ndarray, **meta: Any) -> RerankResult:
                scores = pp.cosine_scores(rows[0], rows[1:])
                return RerankResult(results=pp.rank(scores, top_n=req.top_n, texts=texts), **meta)

            return _Plan(items, finish_cosine, 0.0)
        if req.max_chunks_per_doc and req.max_chunks_per_doc > 1:
            chunked = self.tokenizer.encode_chunked_pairs(
                req.query, req.documents, max_chunks=req.max_chunks_per_doc, direction=req.truncation.direction,
                max_tokens_per_doc=req.max_tokens_per_doc,
            )
            groups, items = [g for g, _ in chunked], [it for _, it in chunked]
        else:
            items = self.tokenizer.encode_pairs(
                req.query, req.documents, truncation=req.truncation, max_tokens_per_doc=req.max_tokens_per_doc
            )
            groups = list(range(n_docs))

        def finish(rows: np.ndarray, **meta: Any) -> RerankResult:
            scores = pp.max_by_group(pp.relevance(rows, raw=req.raw_scores), groups, n_docs)
            return RerankResult(results=pp.rank(scores, top_n=req.top_n, texts=texts), **meta)

        return _Plan(items, finish, 0.0)

    def _plan_predict(self, req: PredictRequest) -> _Plan:
        self._check_count(len(req.inputs), "inputs")
        if self.kind is ModelKind.EMBED:
            raise ValidationError(f"model {self.name} is an embedding model; use /embed or /rerank instead of /predict")
        items = self._encode_mixed(req.inputs, req.truncation)
        labels = [self.spec.label(i) for i in range(self.spec.num_labels)]

        def finish(rows: np.ndarray, **meta: Any) -> PredictResult:
            return PredictResult(predictions=pp.label_scores(pp.activate(rows, raw=req.raw_scores), labels), **meta)

        return _Plan(items, finish, 0.0)

    def _encode_mixed(self, inputs: Sequence[tuple[str, ...]], truncation: TruncationOptions) -> list[EncodedItem]:
        """Singles and pairs in one request, tokenized in two batches, returned in input order."""
        for i, x in enumerate(inputs):
            if len(x) not in (1, 2):
                raise ValidationError(f"inputs[{i}] must be one text or a pair of texts, got {len(x)} texts")
        singles = [i for i, x in enumerate(inputs) if len(x) == 1]
        pairs = [i for i, x in enumerate(inputs) if len(x) == 2]
        out: list[EncodedItem | None] = [None] * len(inputs)
        names = [f"input {i}" for i in range(len(inputs))]  # errors name the caller's index
        texts = self.tokenizer.encode_texts(
            [inputs[i][0] for i in singles], truncation=truncation, names=[names[i] for i in singles]
        )
        encoded = self.tokenizer.encode_text_pairs(
            [(inputs[i][0], inputs[i][1]) for i in pairs], truncation=truncation, names=[names[i] for i in pairs]
        )
        for i, item in [*zip(singles, texts), *zip(pairs, encoded)]:
            out[i] = item
        return out  # type: ignore[return-value]

    def _plan_embed(self, req: EmbedRequest) -> _Plan:
        self._check_count(len(req.texts), "inputs")
        if self.kind is not ModelKind.EMBED:
            raise ValidationError(f"model {self.name} is a {self.kind.value} model, not an embedding model")
        if req.dimensions is not None and not 1 <= req.dimensions <= self.spec.hidden_size:
            raise ValidationError(f"dimensions must be between 1 and {self.spec.hidden_size}")
        items = self.tokenizer.encode_texts(req.texts, truncation=req.truncation)

        def finish(rows: np.ndarray, **meta: Any) -> EmbedResult:
            vectors = pp.truncate_dimensions(rows.astype(np.float32), req.dimensions)
            if req.normalize:
                vectors = pp.l2_normalize(vectors)
            return EmbedResult(embeddings=vectors.tolist(), **meta)

        return _Plan(items, finish, 0.0)

    def _plan_score(self, req: ScoreRequest) -> _Plan:
        left, right = list(req.text_1), list(req.text_2)
        if not left or not right:
            raise EmptyInputError(f"`{'text_1' if not left else 'text_2'}` is empty: send at least one text")
        if len(left) == 1 and len(right) > 1:
            left = left * len(right)
        if len(left) != len(right):
            raise ValidationError(f"text_1 and text_2 must be 1 to N or N to N; got {len(req.text_1)} and {len(req.text_2)}")
        self._check_count(len(right), "text_2 items")
        if self.kind is ModelKind.EMBED:
            items = self.tokenizer.encode_texts(left + right, truncation=req.truncation)
            n = len(left)

            def finish_cosine(rows: np.ndarray, **meta: Any) -> ScoreResult:
                a, b = pp.l2_normalize(rows[:n]), pp.l2_normalize(rows[n:])
                return ScoreResult(scores=[float(x) for x in (a * b).sum(axis=1)], **meta)

            return _Plan(items, finish_cosine, 0.0)
        items = self.tokenizer.encode_text_pairs(list(zip(left, right)), truncation=req.truncation)

        def finish(rows: np.ndarray, **meta: Any) -> ScoreResult:
            return ScoreResult(scores=[float(x) for x in pp.relevance(rows, raw=False)], **meta)

        return _Plan(items, finish, 0.0)


def _truncation(truncate: bool, direction: str | TruncationDirection) -> TruncationOptions:
    try:
        return TruncationOptions(truncate=truncate, direction=TruncationDirection.parse(direction))
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def _at_least(option: str, value: int | None, least: int) -> None:
    if value is not None and value < least:
        raise ValidationError(f"{option} must be >= {least}, got {value}")


def _precision(value: Precision | str) -> Precision:
    try:
        return Precision(value)
    except ValueError:
        raise ConfigError(f"unknown precision {value!r}; choose one of {', '.join(p.value for p in Precision)}") from None


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
