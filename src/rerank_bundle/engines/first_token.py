"""Skip the work nobody reads: the last encoder layer computed for the first token only.

A BERT-style sequence classifier (pooler or RoBERTa head) and a CLS-pooled embedder read
only position 0 of the last layer. That layer's keys and values still need every token,
but its query, attention output, feed-forward and LayerNorms do not: computing them for
token 0 alone removes about 5/6 of the last layer's matmul FLOPs (1/7 of a 6-layer model)
and the result is the same function, not an approximation. The ONNX export traces this
module too, so every compiled engine gets the saving.

Only layers whose structure is known are rewritten (BERT, RoBERTa, XLM-RoBERTa, ELECTRA,
CamemBERT: absolute positions, no cross-attention); anything else runs unchanged.
"""
from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

# Heads that read position 0 of the last hidden state and nothing else.
FIRST_TOKEN_HEADS = frozenset({
    "BertForSequenceClassification", "RobertaForSequenceClassification",
    "XLMRobertaForSequenceClassification", "ElectraForSequenceClassification",
    "CamembertForSequenceClassification",
})


class FirstTokenLayer(nn.Module):
    """The wrapped layer's forward for position 0 only: returns [batch, 1, hidden]."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *args, **kwargs) -> torch.Tensor:
        attn = self.layer.attention.self
        batch = hidden_states.shape[0]
        first = hidden_states[:, :1]

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, -1, attn.num_attention_heads, attn.attention_head_size).transpose(1, 2)

        query, key, value = heads(attn.query(first)), heads(attn.key(hidden_states)), heads(attn.value(hidden_states))
        scores = torch.matmul(query, key.transpose(-1, -2)) * attn.scaling
        scores = _apply_mask(scores, attention_mask)
        context = torch.matmul(scores.softmax(dim=-1), value).transpose(1, 2).reshape(batch, 1, -1)
        attention_output = self.layer.attention.output(context, first)
        return self.layer.feed_forward_chunk(attention_output)


def _apply_mask(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Apply the mask transformers prepared for the layer (bool keep-mask or additive float)."""
    if mask is None:
        return scores
    if mask.dim() == 2:  # a plain [batch, seq] padding mask (1 = keep), as flash attention gets
        mask = mask[:, None, None, :].bool()
    if mask.dim() == 4 and mask.shape[-2] > 1:
        mask = mask[..., :1, :]  # the query row of token 0
    if mask.dtype == torch.bool:
        return scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return scores + mask


def _rewritable(layer: nn.Module, config: object) -> bool:
    attn = getattr(getattr(layer, "attention", None), "self", None)
    needed = ("query", "key", "value", "num_attention_heads", "attention_head_size", "scaling")
    return (
        attn is not None and all(hasattr(attn, name) for name in needed)
        and hasattr(layer.attention, "output") and hasattr(layer, "feed_forward_chunk")
        and not getattr(layer, "add_cross_attention", False) and not getattr(config, "is_decoder", False)
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
    )


def reads_first_token_only(model: nn.Module, *, embed: bool, pooling: str) -> bool:
    """Whether the scored output depends on position 0 of the last layer alone."""
    # Remote code may reuse a known class name over other internals: only transformers' own.
    if not type(model).__module__.startswith("transformers."):
        return False
    if embed:
        return pooling == "cls"
    return type(model).__name__ in FIRST_TOKEN_HEADS


def apply_first_token_last_layer(model: nn.Module, *, embed: bool, pooling: str) -> bool:
    """Wrap the last encoder layer of `model` (once, at load) where that is exact; says if it did."""
    if not reads_first_token_only(model, embed=embed, pooling=pooling):
        return False
    base = getattr(model, "base_model", model)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList) or not layers or isinstance(layers[-1], FirstTokenLayer):
        return False
    if not _rewritable(layers[-1], getattr(model, "config", None)):
        log.info("%s: last layer has an unknown structure; computing it for every token", type(model).__name__)
        return False
    layers[-1] = FirstTokenLayer(layers[-1])
    return True
