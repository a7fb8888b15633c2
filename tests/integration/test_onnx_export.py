"""ONNX export parity for every tiny architecture family (classifier and embedder)."""
from __future__ import annotations

import numpy as np
import pytest

from rerank_bundle.compile import BuildError
from rerank_bundle.compile.export import check_onnx_parity, export_onnx, input_names, sample_batches
from rerank_bundle.config import load_catalog
from rerank_bundle.loading import inspect_checkpoint

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

FAMILIES = ("bert", "xlm-roberta", "deberta-v2", "modernbert")


def _spec(path, catalog_path):
    return inspect_checkpoint(load_catalog(catalog_path).resolve(str(path)))


@pytest.mark.parametrize("embedder", [False, True], ids=["classifier", "embedder"])
@pytest.mark.parametrize("family", FAMILIES)
def test_export_matches_torch(family, embedder, tiny_checkpoint, catalog_path, tmp_path):
    spec = _spec(tiny_checkpoint(family, embedder=embedder), catalog_path)
    path = export_onnx(spec, tmp_path / "model.onnx", progress=False)

    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == input_names(spec)
    for tensor in graph.input:  # batch and sequence axes are symbolic, not baked in
        dims = tensor.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"]
    # Other shapes than the traced one: batch sizes 1..8, lengths up to the model's limit.
    report = check_onnx_parity(spec, path, batches=sample_batches(spec, groups=3, batch_size=5))
    assert report.passed and report.batches >= 6
    assert report.max_abs_diff < 1e-4 * max(1.0, report.max_abs_reference)


def test_multilabel_classifier_exports(tiny_checkpoint, catalog_path, tmp_path):
    spec = _spec(tiny_checkpoint("bert", num_labels=3), catalog_path)
    path = export_onnx(spec, tmp_path / "model.onnx", progress=False)
    out = onnx.load(str(path)).graph.output[0]
    assert out.type.tensor_type.shape.dim[1].dim_value == 3


def test_parity_check_fails_loudly_on_a_wrong_graph(tiny_checkpoint, catalog_path, tmp_path):
    spec = _spec(tiny_checkpoint("bert"), catalog_path)
    path = export_onnx(spec, tmp_path / "model.onnx", progress=False)
    model = onnx.load(str(path))
    head = next(t for t in model.graph.initializer if "classifier" in t.name and "weight" in t.name)
    weights = onnx.numpy_helper.to_array(head).copy()
    head.CopyFrom(onnx.numpy_helper.from_array(weights * 1.5 + 0.1, head.name))
    onnx.save(model, str(path))
    with pytest.raises(BuildError, match="differs from the torch forward"):
        check_onnx_parity(spec, path)
    report = check_onnx_parity(spec, path, raise_on_failure=False)
    assert not report.passed and np.isfinite(report.max_abs_diff)
