"""Sample inputs for export checks, int8 calibration and fidelity measurement.

Two disjoint uses of the built-in corpus (`sample_corpus.TOPICS`):
- calibration: every topic's first query against documents of its own and other topics,
  plus a few long documents so activation ranges cover long sequences too;
- evaluation: every topic's second query against 16 candidates (its three documents and
  13 negatives), so ranking agreement (Spearman, top-1, top-10) means something.

A user calibration file replaces the built-in calibration pairs: JSON lines with
{"query": ..., "document": ...} (or {"text": ...} for embedders), or a TSV of query<TAB>doc.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..batching.batcher import collate
from ..engines.base import ModelInputs
from ..errors import ConfigError
from ..loading import ModelSpec
from ..tokenization import EncodedItem, TextTokenizer
from ..types import ModelKind, TruncationOptions
from .sample_corpus import TOPICS

CANDIDATES_PER_QUERY = 16
_CUT = TruncationOptions(truncate=True)


@dataclass(frozen=True)
class QueryGroup:
    """One query and its candidate documents; `relevant` indexes into `documents`."""

    query: str
    documents: tuple[str, ...]
    relevant: tuple[int, ...]


def _all_documents() -> list[tuple[int, str]]:
    return [(t, doc) for t, (_, docs) in enumerate(TOPICS) for doc in docs]


def evaluation_groups(limit: int | None = None, *, seed: int = 0) -> list[QueryGroup]:
    """Each topic's second query with its own documents and clear negatives, shuffled."""
    rng = random.Random(seed)
    docs = _all_documents()
    groups = []
    for t, ((_, query), own) in enumerate(TOPICS[:limit]):
        negatives = rng.sample([d for topic, d in docs if topic != t], CANDIDATES_PER_QUERY - len(own))
        candidates = list(own) + negatives
        order = list(range(len(candidates)))
        rng.shuffle(order)
        shuffled = tuple(candidates[i] for i in order)
        relevant = tuple(order.index(i) for i in range(len(own)))
        groups.append(QueryGroup(query=query, documents=shuffled, relevant=relevant))
    return groups


def builtin_calibration_pairs(*, seed: int = 1) -> list[tuple[str, str]]:
    """About 150 (query, document) pairs: short, mixed and a few long (~400 tokens)."""
    rng = random.Random(seed)
    docs = _all_documents()
    pairs: list[tuple[str, str]] = []
    for t, ((query, _), own) in enumerate(TOPICS):
        pairs += [(query, d) for d in own]
        pairs += [(query, d) for _, d in rng.sample([x for x in docs if x[0] != t], 5)]
        long_doc = " ".join(own) + " " + " ".join(d for _, d in rng.sample(docs, 8))
        pairs.append((query, long_doc))
    return pairs


def load_calibration_file(path: str | Path) -> list[tuple[str, str]] | list[str]:
    """Pairs from JSONL/TSV, or single texts from JSONL {"text"} / plain lines."""
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as exc:
        raise ConfigError(f"cannot read calibration file {path}: {exc}") from exc
    if not lines:
        raise ConfigError(f"calibration file {path} is empty")
    if path.suffix in (".jsonl", ".json"):
        rows = [json.loads(ln) for ln in lines]
        if all("query" in r and "document" in r for r in rows):
            return [(str(r["query"]), str(r["document"])) for r in rows]
        if all("text" in r for r in rows):
            return [str(r["text"]) for r in rows]
        raise ConfigError(f"{path}: each line needs 'query' and 'document', or 'text'")
    if all("\t" in ln for ln in lines):
        return [tuple(ln.split("\t", 1)) for ln in lines]  # type: ignore[misc]
    return lines


@dataclass(frozen=True)
class SampleSet:
    """Tokenized model inputs for one spec; batches are padded like the runtime pads them."""

    items: list[EncodedItem]
    pad_token_id: int
    use_token_types: bool

    def batches(self, batch_size: int = 8) -> Iterator[ModelInputs]:
        # Sort by length so batches carry little padding, as the runtime's batcher does.
        ordered = sorted(self.items, key=len)
        for start in range(0, len(ordered), batch_size):
            yield collate(ordered[start : start + batch_size], self.pad_token_id, self.use_token_types)

    def __len__(self) -> int:
        return len(self.items)


def load_tokenizer(spec: ModelSpec) -> TextTokenizer:
    return TextTokenizer.from_pretrained(spec.path, max_length=spec.max_length, trust_remote_code=spec.trust_remote_code)


def calibration_set(spec: ModelSpec, tokenizer: TextTokenizer, *, path: str | Path | None = None) -> SampleSet:
    """Calibration inputs: the user's file if given, else the built-in pairs (texts for embedders)."""
    data: Sequence[tuple[str, str] | str] = load_calibration_file(path) if path else builtin_calibration_pairs()
    return encode(spec, tokenizer, data)


def encode(spec: ModelSpec, tokenizer: TextTokenizer, data: Sequence[tuple[str, str] | str]) -> SampleSet:
    pairs = [x for x in data if not isinstance(x, str)]
    texts = [x for x in data if isinstance(x, str)]
    if spec.kind is ModelKind.EMBED:
        # An embedder sees single texts: both sides of each pair, deduplicated in order.
        texts = list(dict.fromkeys(texts + [s for pair in pairs for s in pair]))
        items = tokenizer.encode_texts(texts, truncation=_CUT)
    else:
        items = tokenizer.encode_text_pairs(pairs, truncation=_CUT) if pairs else []
        items += tokenizer.encode_texts(texts, truncation=_CUT) if texts else []
    return SampleSet(items=items, pad_token_id=tokenizer.pad_token_id, use_token_types=spec.uses_token_type_ids)
