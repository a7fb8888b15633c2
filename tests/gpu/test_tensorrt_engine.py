"""TensorRT fp16/fp8: build, parity with torch fp32, profile choice, reuse and refusal.

Marked `gpu`; skipped without CUDA or without the `tensorrt` package (fp8 also needs
compute capability 8.9+ and NVIDIA ModelOpt). These build real plans: a few minutes.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
trt = pytest.importorskip("tensorrt")

from fixtures.gpu_helpers import TOLERANCE, spec_for  # noqa: E402

from rerank_bundle.compile.artifacts import build_artifact  # noqa: E402
from rerank_bundle.compile.calibration import calibration_set, collate, load_tokenizer  # noqa: E402
from rerank_bundle.compile.fidelity import FidelityGate, activate  # noqa: E402
from rerank_bundle.config import Precision  # noqa: E402
from rerank_bundle.engines.shape_profiles import choose_profile, plan_profiles  # noqa: E402
from rerank_bundle.engines.tensorrt_engine import load_tensorrt_engine  # noqa: E402
from rerank_bundle.engines.torch_engine import TorchEngine  # noqa: E402
from rerank_bundle.errors import EngineUnavailable  # noqa: E402

# Small budget so the tiny model (max length 128) gets four sequence buckets.
BUDGET, MAX_BATCH = 512, 32


@pytest.fixture(scope="module")
def tiny_build(tiny_checkpoint, tmp_path_factory):
    spec = spec_for(tiny_checkpoint("bert"), "tiny-bert-trt", max_num_tokens=BUDGET, max_batch_size=MAX_BATCH)
    root = tmp_path_factory.mktemp("trt-cache")
    return spec, root, build_artifact(spec, target="tensorrt", precision="fp16", root=root)


def load(spec, root, precision=Precision.FP16):
    return load_tensorrt_engine(spec, cache_dir=root, precision=precision, allow_build=False)


def test_fp16_build_passes_fidelity_and_records_the_machine(tiny_build):
    _, _, artifact = tiny_build
    manifest = artifact.manifest
    assert not artifact.reused and artifact.path("model.plan").is_file()
    # Random tiny heads score everything alike, so ranking metrics (part of the gate) say
    # little here; the score delta does. The full gate is checked on real MiniLM weights below.
    assert manifest.fidelity["max_abs_delta"] <= TOLERANCE, manifest.fidelity
    assert manifest.key.hardware == {"gpu": torch.cuda.get_device_name(),
                                     "compute_capability": "{}.{}".format(*torch.cuda.get_device_capability())}
    assert manifest.key.libraries["tensorrt"] == trt.__version__
    assert len(manifest.profiles) == 4 and manifest.notes["strongly_typed"]


def test_rebuild_with_nothing_changed_reuses_the_plan(tiny_build):
    spec, root, artifact = tiny_build
    again = build_artifact(spec, target="tensorrt", precision="fp16", root=root)
    assert again.reused and again.directory == artifact.directory


def test_engine_uses_the_planned_profiles_and_matches_torch_in_every_bucket(tiny_build):
    spec, root, _ = tiny_build
    engine = load(spec, root)
    reference = TorchEngine(spec, device="cuda", precision=Precision.FP32)
    try:
        assert engine.profiles == plan_profiles(max_seq_len=128, max_num_tokens=BUDGET, max_batch_size=MAX_BATCH)
        assert engine.limits.max_batch_size == MAX_BATCH and engine.limits.max_seq_len == 128
        samples = calibration_set(spec, load_tokenizer(spec))
        ordered = sorted(samples.items, key=len)
        used = set()
        for size in (1, 3, 8, 20):  # short to long items, several batch sizes
            for start in range(0, len(ordered) - size + 1, max(1, len(ordered) // 6)):
                inputs = collate(ordered[start : start + size], samples.pad_token_id, samples.use_token_types)
                used.add(choose_profile(engine.profiles, *inputs.shape))
                delta = np.abs(activate(engine.forward(inputs)) - activate(reference.forward(inputs))).max()
                assert delta <= TOLERANCE, (inputs.shape, delta)
        assert len(used) >= 3, used
    finally:
        engine.close()
        reference.close()


def test_batch_larger_than_its_profile_is_split_not_refused(tiny_build):
    spec, root, _ = tiny_build
    engine = load(spec, root)
    try:
        samples = calibration_set(spec, load_tokenizer(spec))
        longest = max(samples.items, key=len)
        inputs = collate([longest] * 12, samples.pad_token_id, samples.use_token_types)
        index = choose_profile(engine.profiles, *inputs.shape)
        assert not engine.profiles[index].covers(*inputs.shape)  # 12 rows overflow the long bucket
        out = engine.forward(inputs)
        assert out.shape == (12, 1) and np.allclose(out, out[0], atol=1e-3)
    finally:
        engine.close()


def test_manifest_for_another_gpu_is_refused(tiny_build):
    spec, root, artifact = tiny_build
    path = artifact.path("manifest.json")
    original = path.read_text()
    manifest = json.loads(original)
    manifest["key"]["hardware"]["gpu"] = "Some Other GPU"
    path.write_text(json.dumps(manifest))
    try:
        with pytest.raises(EngineUnavailable, match="Some Other GPU"):
            load(spec, root)
    finally:
        path.write_text(original)


def fp8_ready() -> bool:
    try:
        import modelopt.onnx.quantization  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.get_device_capability() >= (8, 9)


def test_fp16_build_of_real_minilm_passes_the_gate(minilm_spec, tmp_path):
    artifact = build_artifact(minilm_spec, target="tensorrt", precision="fp16", root=tmp_path)
    assert artifact.manifest.fidelity_passed, artifact.manifest.fidelity
    assert artifact.manifest.fidelity["min_cosine"] > 0.999, artifact.manifest.fidelity


@pytest.mark.skipif(not fp8_ready(), reason="fp8 needs compute capability 8.9+ and nvidia-modelopt[onnx]")
def test_fp8_build_of_real_minilm_passes_the_gate(minilm_spec, tmp_path):
    """Quantization is judged on real weights (random heads score everything alike)."""
    artifact = build_artifact(minilm_spec, target="tensorrt", precision="fp8", root=tmp_path)
    assert artifact.manifest.fidelity_passed, artifact.manifest.notes["rungs_tried"]
    assert artifact.manifest.fidelity["max_abs_delta"] <= FidelityGate().max_abs_delta
    engine = load(minilm_spec, tmp_path, precision=Precision.AUTO)
    try:
        assert engine.dtype == "fp8"  # auto takes a passing fp8 plan
    finally:
        engine.close()
