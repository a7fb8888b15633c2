"""The last layer computed for token 0 only is the same function as the full layer.

Each case loads a tiny checkpoint twice with `transformers`, rewrites one copy and compares
logits (or CLS vectors) on a padded batch, for every attention implementation the runtime
and the exporter use. Families whose head or layers are not known stay untouched.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from fixtures.tiny_models import FAMILIES  # noqa: E402
from rerank_bundle.engines.first_token import FirstTokenLayer, apply_first_token_last_layer  # noqa: E402

REWRITTEN = ("bert", "xlm-roberta")
TEXTS = [("what is deep learning", "deep learning is a machine learning model"),
         ("capital of france", " ".join(["paris is the capital of france"] * 8)),
         ("pizza", "")]


def _load(path, *, embedder: bool, attn: str):
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    cls = AutoModel if embedder else AutoModelForSequenceClassification
    model = cls.from_pretrained(str(path), dtype=torch.float32, attn_implementation=attn).eval()
    return AutoTokenizer.from_pretrained(str(path)), model


def _outputs(model, batch, *, embedder: bool):
    with torch.inference_mode():
        out = model(**batch)
    return out.last_hidden_state[:, 0] if embedder else out.logits


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("family", REWRITTEN)
@pytest.mark.parametrize("embedder", [False, True], ids=["classifier", "cls-embedder"])
def test_rewritten_layer_matches_the_full_layer(tiny_checkpoint, family, embedder, attn):
    path = tiny_checkpoint(family, embedder=True) if embedder else tiny_checkpoint(family, num_labels=3)
    tokenizer, reference = _load(path, embedder=embedder, attn=attn)
    _, rewritten = _load(path, embedder=embedder, attn=attn)
    assert apply_first_token_last_layer(rewritten, embed=embedder, pooling="cls")
    assert isinstance(rewritten.base_model.encoder.layer[-1], FirstTokenLayer)
    batch = tokenizer([q for q, _ in TEXTS], [d for _, d in TEXTS], padding=True, return_tensors="pt")
    assert batch["attention_mask"].min() == 0  # padded rows are part of the check
    expected, got = _outputs(reference, batch, embedder=embedder), _outputs(rewritten, batch, embedder=embedder)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


def test_applied_once_only(tiny_checkpoint):
    _, model = _load(tiny_checkpoint("bert"), embedder=False, attn="sdpa")
    assert apply_first_token_last_layer(model, embed=False, pooling="cls")
    assert not apply_first_token_last_layer(model, embed=False, pooling="cls")
    assert not isinstance(model.base_model.encoder.layer[-1].layer, FirstTokenLayer)


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in REWRITTEN])
def test_unknown_families_run_unchanged(tiny_checkpoint, family):
    _, model = _load(tiny_checkpoint(family), embedder=False, attn="eager")
    before = [type(m) for m in model.modules()]
    assert not apply_first_token_last_layer(model, embed=False, pooling="cls")
    assert [type(m) for m in model.modules()] == before


def test_mean_pooled_embedder_keeps_every_token(tiny_checkpoint):
    _, model = _load(tiny_checkpoint("bert", embedder=True), embedder=True, attn="sdpa")
    assert not apply_first_token_last_layer(model, embed=True, pooling="mean")
    assert not any(isinstance(m, FirstTokenLayer) for m in model.modules())


@pytest.mark.parametrize(("family", "expected"), [("bert", True), ("deberta-v2", False)])
def test_torch_engine_reports_the_rewrite(tiny_checkpoint, catalog_path, family, expected):
    from rerank_bundle.config import load_catalog
    from rerank_bundle.engines.torch_engine import TorchEngine
    from rerank_bundle.loading import inspect_checkpoint

    spec = inspect_checkpoint(load_catalog(catalog_path).resolve(str(tiny_checkpoint(family))))
    engine = TorchEngine(spec, device="cpu")
    try:
        assert engine.first_token_last_layer is expected
    finally:
        engine.close()


def test_remote_code_classes_are_left_alone(tiny_checkpoint):
    _, model = _load(tiny_checkpoint("bert"), embedder=False, attn="sdpa")
    # The same layers under a class defined outside transformers (as trust_remote_code loads).
    model.__class__ = type("BertForSequenceClassification", (type(model),), {"__module__": "transformers_modules.x"})
    assert not apply_first_token_last_layer(model, embed=False, pooling="cls")
