"""torch CUDA fp16 against CPU fp32: the GPU fallback engine must score like the reference.

Marked `gpu`; skipped where torch sees no CUDA device.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fixtures.gpu_helpers import TOLERANCE, spec_for  # noqa: E402

from rerank_bundle.compile.calibration import calibration_set, collate, load_tokenizer  # noqa: E402
from rerank_bundle.compile.fidelity import FidelityGate, FidelityProbe  # noqa: E402
from rerank_bundle.compile.sample_corpus import TOPICS  # noqa: E402
from rerank_bundle.config import Precision  # noqa: E402
from rerank_bundle.engines.torch_engine import TorchEngine  # noqa: E402
from rerank_bundle.service import Reranker  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def fp16_vs_fp32(spec, groups=8):
    """Fidelity of torch CUDA (auto = fp16) against torch CPU fp32 on the evaluation groups."""
    gpu = TorchEngine(spec, device="cuda", precision=Precision.AUTO)
    cpu = TorchEngine(spec, device="cpu", precision=Precision.FP32)
    try:
        assert gpu.dtype == "fp16" and gpu.limits.pad_to_multiple_of == 8
        return FidelityProbe(spec, groups=groups, reference=cpu.forward).measure(gpu.forward)
    finally:
        gpu.close()
        cpu.close()


@pytest.mark.parametrize("family", ["bert", "xlm-roberta", "deberta-v2", "modernbert"])
def test_reranker_fp16_on_cuda_matches_cpu_fp32(tiny_checkpoint, family):
    fidelity = fp16_vs_fp32(spec_for(tiny_checkpoint(family), f"tiny-{family}"))
    assert fidelity.max_abs_delta <= TOLERANCE, fidelity.summary()


@pytest.mark.parametrize("family", ["bert", "xlm-roberta"])
def test_classifier_and_embedder_fp16_on_cuda_match_cpu_fp32(tiny_checkpoint, family):
    classifier = fp16_vs_fp32(spec_for(tiny_checkpoint(family, num_labels=3), f"tiny-{family}-cls"))
    assert classifier.max_abs_delta <= TOLERANCE, classifier.summary()
    embedder = fp16_vs_fp32(spec_for(tiny_checkpoint(family, embedder=True), f"tiny-{family}-emb"))
    assert embedder.max_abs_delta <= TOLERANCE and embedder.min_cosine > 0.999, embedder.summary()


def test_real_minilm_fp16_passes_the_fidelity_gate(minilm_spec):
    """Real weights: the full gate (|Δ cosine score|, per-vector cosine, top-10 agreement)."""
    fidelity = fp16_vs_fp32(minilm_spec, groups=None)
    assert fidelity.passes(FidelityGate()), fidelity.summary()
    assert fidelity.min_cosine > 0.999 and fidelity.top1_agreement == 1.0, fidelity.summary()


def test_real_minilm_on_cuda_ranks_the_answering_document_first(minilm_spec):
    """Through the runtime (tokenizer, batcher, engine): each topic's query finds its best document."""
    tokenizer = load_tokenizer(minilm_spec)
    reranker = Reranker(minilm_spec, tokenizer, TorchEngine(minilm_spec, device="cuda"))
    firsts = [docs[0] for _, docs in TOPICS]
    try:
        hits = [reranker.rerank(queries[0], firsts, top_n=1)[0].index == i for i, (queries, _) in enumerate(TOPICS)]
    finally:
        reranker.close()
    assert np.mean(hits) >= 0.9, hits


def test_cuda_engine_scores_a_padded_batch_like_single_items(tiny_checkpoint):
    """Padding must not leak into scores: a ragged batch equals its items run one by one."""
    spec = spec_for(tiny_checkpoint("bert"), "tiny-bert-ragged")
    samples = calibration_set(spec, load_tokenizer(spec))
    items = sorted(samples.items, key=len)[:: max(1, len(samples.items) // 9)][:9]
    engine = TorchEngine(spec, device="cuda")
    try:
        batched = engine.forward(collate(items, samples.pad_token_id, samples.use_token_types))
        single = np.concatenate([engine.forward(collate([it], samples.pad_token_id, samples.use_token_types)) for it in items])
    finally:
        engine.close()
    np.testing.assert_allclose(batched, single, atol=1e-2)
