"""Tokenization on CPU: texts and (query, document) pairs to token ids, with the length rules.

Works on the Rust `tokenizers.Tokenizer` directly, on a private copy whose built-in
truncation and padding are switched off once at load: truncation is decided here per
request (document first, direction, chunking) without mutating shared state, so one
tokenizer serves concurrent requests from any thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tokenizers import Encoding, Tokenizer

from .errors import ConfigError, ValidationError
from .types import TruncationDirection, TruncationOptions


@dataclass(frozen=True, slots=True)
class EncodedItem:
    """One model input: what the batcher pads and the engine sees."""

    input_ids: list[int]
    token_type_ids: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


class TextTokenizer:
    """Encodes single texts and text pairs under a maximum length (special tokens included)."""

    def __init__(self, backend: Tokenizer, *, max_length: int, pad_token_id: int = 0) -> None:
        self._tok = Tokenizer.from_str(backend.to_str())  # private copy, never reconfigured
        self._tok.no_truncation()
        self._tok.no_padding()
        self.max_length = max_length
        self.pad_token_id = pad_token_id
        processor = self._tok.post_processor
        self._specials = {
            pair: (processor.num_special_tokens_to_add(pair) if processor is not None else 0) for pair in (False, True)
        }

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

    def encode_texts(self, texts: Sequence[str], *, truncation: TruncationOptions) -> list[EncodedItem]:
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=False)
        return [self._join(enc, None, truncation, label=i) for i, enc in enumerate(encodings)]

    def encode_pairs(
        self,
        query: str,
        documents: Sequence[str],
        *,
        truncation: TruncationOptions,
        max_tokens_per_doc: int | None = None,
    ) -> list[EncodedItem]:
        """(query, document) for each document; the document is cut before the query is."""
        query_enc = self._tok.encode(query, add_special_tokens=False)
        docs = self._encode_docs(documents, max_tokens_per_doc, truncation.direction)
        return [self._join(query_enc, doc, truncation, label=i, first_text=query) for i, doc in enumerate(docs)]

    def encode_text_pairs(self, pairs: Sequence[tuple[str, str]], *, truncation: TruncationOptions) -> list[EncodedItem]:
        """Arbitrary (text, text_pair) inputs, as /predict and /score send them."""
        firsts = self._tok.encode_batch([a for a, _ in pairs], add_special_tokens=False)
        seconds = self._tok.encode_batch([b for _, b in pairs], add_special_tokens=False)
        return [
            self._join(a, b, truncation, label=i, first_text=pairs[i][0]) for i, (a, b) in enumerate(zip(firsts, seconds))
        ]

    def encode_chunked_pairs(
        self, query: str, documents: Sequence[str], *, max_chunks: int, direction: TruncationDirection
    ) -> list[tuple[int, EncodedItem]]:
        """Long-document mode: each document split into up to `max_chunks` chunks that fit
        beside the query. Returns (document index, item) for every chunk."""
        query_enc = self._tok.encode(query, add_special_tokens=False)
        room = self.max_length - self._specials[True] - len(query_enc)
        cut = TruncationOptions(truncate=True, direction=direction)
        out: list[tuple[int, EncodedItem]] = []
        for i, doc in enumerate(self._tok.encode_batch(list(documents), add_special_tokens=False)):
            if room < 1 or len(doc) <= room:
                out.append((i, self._join(query_enc, doc, cut, label=i, first_text=query)))
                continue
            doc.truncate(room, stride=0, direction="right")
            for chunk in [doc, *doc.overflowing][:max_chunks]:
                out.append((i, self._finish(query_enc, chunk)))
        return out

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False))

    # -- internals ----------------------------------------------------------------------

    def _encode_docs(
        self, documents: Sequence[str], max_tokens: int | None, direction: TruncationDirection
    ) -> list[Encoding]:
        docs = self._tok.encode_batch(list(documents), add_special_tokens=False)
        if max_tokens is not None:
            for doc in docs:
                if len(doc) > max_tokens:
                    doc.truncate(max_tokens, stride=0, direction=direction.value)
        return docs

    def _join(
        self,
        first: Encoding,
        second: Encoding | None,
        truncation: TruncationOptions,
        *,
        label: int,
        first_text: str | None = None,
    ) -> EncodedItem:
        budget = self.max_length - self._specials[second is not None]
        total = len(first) + (len(second) if second is not None else 0)
        if total > budget:
            if not truncation.truncate:
                raise ValidationError(
                    f"input {label} is {total + self.max_length - budget} tokens long, more than the model's "
                    f"limit of {self.max_length} tokens; shorten it or send truncate=true"
                )
            first, second = self._truncate(first, second, budget, truncation.direction, first_text)
        return self._finish(first, second)

    def _truncate(
        self,
        first: Encoding,
        second: Encoding | None,
        budget: int,
        direction: TruncationDirection,
        first_text: str | None,
    ) -> tuple[Encoding, Encoding | None]:
        side = direction.value
        if second is None:
            first.truncate(budget, stride=0, direction=side)
            return first, None
        if len(first) < budget:  # only_second: the document gives way first
            second.truncate(budget - len(first), stride=0, direction=side)
            return first, second
        # The query alone fills the budget: longest_first, trimming the longer side.
        keep_second = min(len(second), budget // 2)
        keep_first = budget - keep_second
        first = self._tok.encode(first_text or "", add_special_tokens=False) if first_text is not None else first
        first.truncate(keep_first, stride=0, direction=side)
        second.truncate(keep_second, stride=0, direction=side)
        return first, second

    def _finish(self, first: Encoding, second: Encoding | None) -> EncodedItem:
        merged = self._tok.post_process(first, second, add_special_tokens=True)
        return EncodedItem(input_ids=list(merged.ids), token_type_ids=list(merged.type_ids))
