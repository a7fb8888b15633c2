"""The torch module every engine starts from: a checkpoint plus its output head.

Classifiers return logits; embedders return pooled (not normalized) vectors, so pooling
runs on the device and only [batch, hidden] leaves it. The same module is what the ONNX
exporter traces, so every compiled engine computes exactly what the torch engine does.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

from ..loading import ModelSpec
from ..types import ModelKind
from .first_token import apply_first_token_last_layer

log = logging.getLogger(__name__)


def pool(hidden: torch.Tensor, mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Pool token states [b, s, h] with a right-padded mask [b, s]."""
    if mode == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).amax(dim=1)
    if mode == "lasttoken":
        last = mask.sum(dim=1).clamp(min=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    summed = (hidden * m).sum(dim=1)
    count = m.sum(dim=1).clamp(min=1e-9)
    if mode == "mean_sqrt_len":
        return summed / count.sqrt()
    return summed / count


class ScoringModule(nn.Module):
    """forward(input_ids, attention_mask[, token_type_ids]) → logits or pooled vectors."""

    def __init__(self, model: nn.Module, *, kind: ModelKind, pooling: str = "mean", use_token_types: bool = False):
        super().__init__()
        self.model = model
        self.kind = kind
        self.pooling = pooling
        self.use_token_types = use_token_types

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.use_token_types and token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        out = self.model(**kwargs)
        if self.kind is ModelKind.EMBED:
            hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
            return pool(hidden, attention_mask, self.pooling)
        return out.logits if hasattr(out, "logits") else out[0]


def load_hf_model(spec: ModelSpec, *, dtype: torch.dtype, attn: str | None = "sdpa") -> nn.Module:
    """The bare transformers model of a spec, in eval mode, on CPU."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    cls = AutoModel if spec.kind is ModelKind.EMBED else AutoModelForSequenceClassification
    kwargs = {"dtype": dtype, "trust_remote_code": spec.trust_remote_code}
    try:
        model = cls.from_pretrained(str(spec.path), attn_implementation=attn, **kwargs) if attn else None
    except (ValueError, TypeError, ImportError) as exc:  # remote code without SDPA support
        log.info("%s: %s attention unavailable (%s); using the model's default", spec.name, attn, exc)
        model = None
    if model is None:
        model = cls.from_pretrained(str(spec.path), **kwargs)
    return model.eval()


def build_scoring_module(spec: ModelSpec, *, dtype: torch.dtype = torch.float32, attn: str | None = "sdpa") -> ScoringModule:
    model = load_hf_model(spec, dtype=dtype, attn=attn)
    pooling = spec.pooling.mode if spec.pooling else "mean"
    if apply_first_token_last_layer(model, embed=spec.kind is ModelKind.EMBED, pooling=pooling):
        log.info("%s: last layer computed for the first token only (the head reads nothing else)", spec.name)
    return ScoringModule(model, kind=spec.kind, pooling=pooling, use_token_types=spec.uses_token_type_ids).eval()
