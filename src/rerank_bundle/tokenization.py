"""Tokenization on CPU: texts and (query, document) pairs to token ids, with the length rules.

Texts are encoded once, without special tokens, by a private copy of the Rust
`tokenizers.Tokenizer` whose built-in truncation and padding are off. Everything after
that works on plain id lists: truncation (document first, direction, longest_first
fallback), chunking and adding the special tokens. Nothing shared is mutated per request,
so one tokenizer serves concurrent requests from any thread.

Why not `Encoding.truncate` + `Tokenizer.post_process`: a truncated `Encoding` keeps its
cut-off tail as "overflowing" encodings, and post-processing a pair merges the cross
product of both sides' overflows. A long query against a long document then costs
seconds and memory per item. Slicing lists and applying the post-processor's template
(read once at load, see `SpecialTokens.probe`) is exact and linear.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tokenizers import Tokenizer

from .errors import ConfigError, ValidationError
from .types import TruncationDirection, TruncationOptions


@dataclass(frozen=True, slots=True)
class EncodedItem:
    """One model input: what the batcher pads and the engine sees."""

    input_ids: list[int]
    token_type_ids: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class SpecialTokens:
    """Where the tokenizer's post-processor puts special tokens around one or two texts:
    prefix + first + middle + second + suffix, as (ids, type ids) per part."""

    prefix: tuple[tuple[int, int], ...]
    middle: tuple[tuple[int, int], ...]
    suffix: tuple[tuple[int, int], ...]
    first_type: int
    second_type: int

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.middle) + len(self.suffix)

    def apply(self, first: list[int], second: list[int] | None) -> EncodedItem:
        # Runs for every item: plain list concatenation, no per-token tuples.
        ids = _ids(self.prefix) + first + _ids(self.middle)
        types = _types(self.prefix) + [self.first_type] * len(first) + _types(self.middle)
        if second is not None:
            ids += second
            types += [self.second_type] * len(second)
        return EncodedItem(input_ids=ids + _ids(self.suffix), token_type_ids=types + _types(self.suffix))

    @classmethod
    def probe(cls, tok: Tokenizer, *, pair: bool) -> "SpecialTokens":
        """Read the template off the post-processor by processing two known texts."""
        first = tok.encode("a b", add_special_tokens=False)
        second = tok.encode("c", add_special_tokens=False) if pair else None
        if len(first) == 0 or (second is not None and len(second) == 0):
            raise ConfigError("tokenizer encodes plain ASCII text to nothing; cannot read its special-token template")
        merged = tok.post_process(first, second, add_special_tokens=True)
        rows = list(zip(merged.ids, merged.type_ids, merged.special_tokens_mask))
        content = [i for i, (_, _, special) in enumerate(rows) if not special]
        n1 = len(first)
        a_pos, b_pos = content[:n1], content[n1:]
        start_b = b_pos[0] if b_pos else len(rows)
        end = (b_pos or a_pos)[-1] + 1
        template = cls(
            prefix=tuple((t, k) for t, k, _ in rows[: a_pos[0]]),
            middle=tuple((t, k) for t, k, _ in rows[a_pos[-1] + 1 : start_b]) if pair else (),
            suffix=tuple((t, k) for t, k, _ in rows[end:]),
            first_type=rows[a_pos[0]][1],
            second_type=rows[b_pos[0]][1] if b_pos else 0,
        )
        rebuilt = template.apply(list(first.ids), list(second.ids) if second is not None else None)
        if rebuilt.input_ids != list(merged.ids) or rebuilt.token_type_ids != list(merged.type_ids):
            raise ConfigError("tokenizer post-processor is not a fixed special-token template; unsupported")
        return template


def _ids(part: tuple[tuple[int, int], ...]) -> list[int]:
    return [t for t, _ in part]


def _types(part: tuple[tuple[int, int], ...]) -> list[int]:
    return [k for _, k in part]


def cut(ids: list[int], keep: int, direction: TruncationDirection) -> list[int]:
    """The first (Right) or last (Left) `keep` ids."""
    if len(ids) <= keep:
        return ids
    return ids[:keep] if direction is TruncationDirection.RIGHT else ids[len(ids) - keep :]


def longest_first(n_first: int, n_second: int, budget: int) -> tuple[int, int]:
    """How many tokens each side keeps under `longest_first` (the rule of HF tokenizers):
    trim the longer side; when both exceed half, split the budget, odd token to the longer."""
    short, long_ = sorted((n_first, n_second))
    long_keep = short if short > budget else max(short, budget - short)
    short_keep = short
    if short_keep + long_keep > budget:
        short_keep, long_keep = budget // 2, budget // 2 + budget % 2
    return (short_keep, long_keep) if n_first <= n_second else (long_keep, short_keep)


class TextTokenizer:
    """Encodes single texts and text pairs under a maximum length (special tokens included)."""

    def __init__(self, backend: Tokenizer, *, max_length: int, pad_token_id: int = 0) -> None:
        self._tok = Tokenizer.from_str(backend.to_str())  # private copy, never reconfigured
        self._tok.no_truncation()
        self._tok.no_padding()
        self.max_length = max_length
        self.pad_token_id = pad_token_id
        self._single = SpecialTokens.probe(self._tok, pair=False)
        self._pair = SpecialTokens.probe(self._tok, pair=True)
        if max_length <= self._pair.count:
            raise ConfigError(f"max_length {max_length} leaves no room beside {self._pair.count} special tokens")

    @classmethod
    def from_pretrained(cls, path: str | Path, *, max_length: int, trust_remote_code: bool = False) -> "TextTokenizer":
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
        backend = getattr(tok, "backend_tokenizer", None)
        if backend is None:
            raise ConfigError(f"{path}: no fast (Rust) tokenizer available; add a tokenizer.json")
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        return cls(backend, max_length=max_length, pad_token_id=int(pad))

    # -- public API ---------------------------------------------------------------------

    def encode_texts(
        self, texts: Sequence[str], *, truncation: TruncationOptions, names: Sequence[str] | None = None
    ) -> list[EncodedItem]:
        """One item per text. `names` label the texts in length errors (default "input i")."""
        return [
            self._join(ids, None, truncation, name=names[i] if names else f"input {i}")
            for i, ids in enumerate(self._ids(texts))
        ]

    def encode_pairs(
        self,
        query: str,
        documents: Sequence[str],
        *,
        truncation: TruncationOptions,
        max_tokens_per_doc: int | None = None,
    ) -> list[EncodedItem]:
        """(query, document) for each document; the document is cut before the query is."""
        query_ids = self._ids([query])[0]
        return [
            self._join(query_ids, doc, truncation, name=f"query + document {i}")
            for i, doc in enumerate(self._docs(documents, max_tokens_per_doc, truncation.direction))
        ]

    def encode_text_pairs(
        self, pairs: Sequence[tuple[str, str]], *, truncation: TruncationOptions, names: Sequence[str] | None = None
    ) -> list[EncodedItem]:
        """Arbitrary (text, text_pair) inputs, as /predict and /score send them."""
        firsts = self._ids([a for a, _ in pairs])
        seconds = self._ids([b for _, b in pairs])
        return [
            self._join(a, b, truncation, name=names[i] if names else f"input {i}")
            for i, (a, b) in enumerate(zip(firsts, seconds))
        ]

    def encode_chunked_pairs(
        self,
        query: str,
        documents: Sequence[str],
        *,
        max_chunks: int,
        direction: TruncationDirection,
        max_tokens_per_doc: int | None = None,
    ) -> list[tuple[int, EncodedItem]]:
        """Long-document mode: each document split into up to `max_chunks` consecutive
        chunks that fit beside the whole query (the rest of the document is dropped).
        Returns (document index, item) for every chunk, documents in order."""
        query_ids = self._ids([query])[0]
        room = self.max_length - self._pair.count - len(query_ids)
        cut_opts = TruncationOptions(truncate=True, direction=direction)
        out: list[tuple[int, EncodedItem]] = []
        for i, doc in enumerate(self._docs(documents, max_tokens_per_doc, direction)):
            if room < 1 or len(doc) <= room:  # fits, or the query alone is too long: plain truncation
                out.append((i, self._join(query_ids, doc, cut_opts, name=f"query + document {i}")))
                continue
            for start in range(0, min(len(doc), max(1, max_chunks) * room), room):
                out.append((i, self._pair.apply(query_ids, doc[start : start + room])))
        return out

    def count(self, text: str) -> int:
        """Tokens in `text`, special tokens excluded."""
        return len(self._ids([text])[0])

    # -- internals ----------------------------------------------------------------------

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [enc.ids for enc in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def _docs(self, documents: Sequence[str], max_tokens: int | None, direction: TruncationDirection) -> list[list[int]]:
        docs = self._ids(documents)
        if max_tokens is None:
            return docs
        return [cut(doc, max_tokens, direction) for doc in docs]

    def _join(
        self, first: list[int], second: list[int] | None, truncation: TruncationOptions, *, name: str
    ) -> EncodedItem:
        template = self._single if second is None else self._pair
        budget = self.max_length - template.count
        total = len(first) + (len(second) if second is not None else 0)
        if total > budget:
            if not truncation.truncate:
                raise ValidationError(
                    f"{name} is {total + template.count} tokens long, more than the model's limit of "
                    f"{self.max_length} tokens; shorten it or send truncate=true"
                )
            first, second = self._truncate(first, second, budget, truncation.direction)
        return template.apply(first, second)

    @staticmethod
    def _truncate(
        first: list[int], second: list[int] | None, budget: int, direction: TruncationDirection
    ) -> tuple[list[int], list[int] | None]:
        if second is None:
            return cut(first, budget, direction), None
        if len(first) < budget:  # only_second: the document gives way first
            return first, cut(second, budget - len(first), direction)
        # The first text alone fills the budget: longest_first trims both.
        keep_first, keep_second = longest_first(len(first), len(second), budget)
        return cut(first, keep_first, direction), cut(second, keep_second, direction)
