"""The engine contract: one forward pass over a padded batch, numpy in, numpy out.

Phases are split the Infinity way: tokenization and collation happen on CPU before an
engine sees a batch, `forward` is the only device step, postprocessing runs after. Any
engine (torch, ONNX Runtime, OpenVINO, TensorRT) plugs in by implementing `Engine`; the
batcher, the service and the server never know which one runs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Collection, Protocol, runtime_checkable

import numpy as np

from ..errors import EngineUnavailable


def require_module(module: str, *, install: str, name: str | None = None) -> Any:
    """Import an engine's optional library, or say what to install (EngineUnavailable)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise EngineUnavailable(f"{name or module} is not installed: {install}") from exc


@dataclass(frozen=True)
class ModelInputs:
    """A right-padded batch. int64 arrays of shape [batch, seq]."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.input_ids.shape)  # type: ignore[return-value]

    @property
    def padded_tokens(self) -> int:
        batch, seq = self.shape
        return batch * seq

    def as_feeds(self, names: "Collection[str]") -> dict[str, np.ndarray]:
        """Contiguous int64 arrays keyed by graph input name, for the inputs a compiled graph
        declares; token_type_ids are zeros when the graph wants them and none were collated."""
        named = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if "token_type_ids" in names:
            named["token_type_ids"] = self.token_type_ids if self.token_type_ids is not None else np.zeros_like(self.input_ids)
        return {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in named.items()}


@dataclass(frozen=True)
class EngineLimits:
    """Shapes an engine accepts; the batcher packs batches inside them."""

    max_batch_size: int | None = None
    max_seq_len: int | None = None
    # Pad the sequence axis to a multiple of this (tensor cores, static shape buckets).
    pad_to_multiple_of: int = 1


@dataclass
class EngineReport:
    """What selection chose and why the others were skipped; shown in logs and /info."""

    chosen: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"chosen": self.chosen, "skipped": [{"engine": e, "reason": r} for e, r in self.skipped]}


@runtime_checkable
class Engine(Protocol):
    """One loaded model on one device.

    `forward` returns float32 of shape [batch, num_labels] for classifiers (logits) and
    [batch, hidden] for embedders (pooled, not normalized). It is called from a single
    worker thread; it must not keep per-request state.
    """

    name: str
    device: str
    dtype: str
    limits: EngineLimits

    def forward(self, inputs: ModelInputs) -> np.ndarray: ...

    def close(self) -> None: ...
