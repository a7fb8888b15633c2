"""torch → ONNX: export `ScoringModule` with dynamic batch and sequence axes, then check it.

The exported graph is what every compiled engine is built from, so it must compute what
the torch engine computes: `export_onnx` runs it on padded sample batches and raises
`BuildError` when any output differs from the torch forward beyond the tolerance.

Attention is exported in its eager form (MatMul → Softmax → MatMul): ONNX Runtime's
transformer fusions, OpenVINO's SDPA fusion and TensorRT's MHA fusion all match that
pattern, while a traced SDPA call leaves them nothing to fuse. The TorchScript exporter is
used because it needs no extra package and its graphs are the ones those fusions target.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..engines.base import ModelInputs
from ..loading import ModelSpec
from . import BuildError
from .calibration import collate, encode, evaluation_groups, load_tokenizer

log = logging.getLogger(__name__)

# Newest opset that TensorRT 10, OpenVINO and ONNX Runtime all import.
DEFAULT_OPSET = 20
# Allowed max |onnx - torch| relative to the largest |torch output| (floored at 1).
DEFAULT_TOLERANCE = 1e-3
OUTPUT_NAME = "output"
# Over this size the weights go to one external data file beside the graph (2 GiB protobuf limit).
_EXTERNAL_DATA_BYTES = 1_500_000_000


@dataclass(frozen=True)
class ParityReport:
    max_abs_diff: float
    max_abs_reference: float
    tolerance: float
    batches: int
    items: int

    @property
    def allowed(self) -> float:
        return self.tolerance * max(1.0, self.max_abs_reference)

    @property
    def passed(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.allowed


def input_names(spec: ModelSpec) -> list[str]:
    """Graph inputs, in `ScoringModule.forward` order; token_type_ids only where the model uses them."""
    return ["input_ids", "attention_mask"] + (["token_type_ids"] if spec.uses_token_type_ids else [])


def feeds(spec: ModelSpec, inputs: ModelInputs) -> dict[str, np.ndarray]:
    """Named int64 arrays for a session run of the graph `export_onnx` writes for `spec`."""
    return inputs.as_feeds(input_names(spec))


def sample_batches(spec: ModelSpec, *, groups: int = 2, batch_size: int = 8) -> list[ModelInputs]:
    """Padded batches of real-looking pairs (or texts) from the built-in evaluation set."""
    data: list[tuple[str, str] | str] = []
    for group in evaluation_groups(groups):
        data += [(group.query, doc) for doc in group.documents]
    samples = encode(spec, load_tokenizer(spec), data)
    # Unsorted on purpose: every batch mixes lengths, so padding paths are exercised.
    items = samples.items
    return [collate(items[i : i + batch_size], samples.pad_token_id, samples.use_token_types) for i in range(0, len(items), batch_size)]


def export_onnx(
    spec: ModelSpec, out_path: str | Path, *, opset: int = DEFAULT_OPSET, tolerance: float = DEFAULT_TOLERANCE,
    progress: bool = True,
) -> Path:
    """Export the spec's `ScoringModule` (fp32) to `out_path` and verify it (`export_checked`)."""
    export_checked(spec, out_path, opset=opset, tolerance=tolerance, progress=progress)
    return Path(out_path)


def export_checked(
    spec: ModelSpec, out_path: str | Path, *, opset: int = DEFAULT_OPSET, tolerance: float = DEFAULT_TOLERANCE,
    progress: bool = True,
) -> ParityReport:
    """Export, then check the graph against the very module that was traced (the checkpoint
    loads once); returns the parity report. Raises BuildError beyond tolerance."""
    import torch
    from tqdm.auto import tqdm

    from ..engines.torch_modules import build_scoring_module

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=3, desc=f"export {spec.name} → ONNX", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("load checkpoint")
        module = build_scoring_module(spec, dtype=torch.float32, attn="eager")
        bar.update()
        bar.set_postfix_str(f"trace (opset {opset})")
        _trace_to_file(spec, module, out_path, opset=opset)
        bar.update()
        bar.set_postfix_str("check against torch")
        report = check_onnx_parity(spec, out_path, module=module, tolerance=tolerance)
        bar.update()
    log.info("ONNX export of %s matches torch: max |Δ| %.2e over %d items", spec.name, report.max_abs_diff, report.items)
    return report


def _trace_to_file(spec: ModelSpec, module: object, out_path: Path, *, opset: int) -> None:
    import torch

    names = input_names(spec)
    # Trace with a padded batch so mask handling is recorded for the general case.
    example = sample_batches(spec, groups=1, batch_size=2)[0]
    args = tuple(torch.from_numpy(v) for v in feeds(spec, example).values())
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {OUTPUT_NAME: {0: "batch"}}
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".export-") as tmp:
        traced = Path(tmp) / "model.onnx"
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python control flow are expected
            try:
                torch.onnx.export(
                    module, args, str(traced), input_names=names, output_names=[OUTPUT_NAME], dynamic_axes=axes,
                    opset_version=opset, do_constant_folding=True, dynamo=False,
                )
            except Exception as exc:  # the exporter raises many types; all mean "cannot export"
                raise BuildError(f"ONNX export of {spec.name} ({spec.model_type}) failed: {type(exc).__name__}: {exc}") from exc
        _save_consolidated(traced, out_path)


def _save_consolidated(traced: Path, out_path: Path) -> None:
    """Move the export into place; weights of big models go to one `<name>.data` file."""
    import onnx

    size = sum(f.stat().st_size for f in traced.parent.iterdir() if f.is_file())
    for old in (out_path, out_path.with_name(out_path.name + ".data")):
        old.unlink(missing_ok=True)
    if size < _EXTERNAL_DATA_BYTES and not any(f != traced for f in traced.parent.iterdir()):
        shutil.move(str(traced), out_path)
        return
    proto = onnx.load(str(traced), load_external_data=True)
    onnx.save_model(proto, str(out_path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=out_path.name + ".data", size_threshold=1024)


def check_onnx_parity(
    spec: ModelSpec, onnx_path: str | Path, *, module: object | None = None, batches: Iterable[ModelInputs] | None = None,
    tolerance: float = DEFAULT_TOLERANCE, raise_on_failure: bool = True,
) -> ParityReport:
    """Run the ONNX graph and the torch module on the same padded batches and compare outputs."""
    import torch

    from ..engines.torch_modules import build_scoring_module

    module = module or build_scoring_module(spec, dtype=torch.float32, attn="eager")
    run_onnx = _reference_runner(Path(onnx_path))
    worst, largest, count, n_batches = 0.0, 0.0, 0, 0
    for batch in batches if batches is not None else sample_batches(spec):
        named = feeds(spec, batch)
        with torch.inference_mode():
            expected = module(*(torch.from_numpy(v) for v in named.values())).float().numpy()  # type: ignore[operator]
        got = run_onnx(named)
        if got.shape != expected.shape:
            raise BuildError(f"{onnx_path}: output shape {got.shape} != torch {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
        largest = max(largest, float(np.abs(expected).max()))
        count, n_batches = count + len(expected), n_batches + 1
    report = ParityReport(max_abs_diff=worst, max_abs_reference=largest, tolerance=tolerance, batches=n_batches, items=count)
    if raise_on_failure and not report.passed:
        raise BuildError(
            f"ONNX graph {onnx_path} differs from the torch forward of {spec.name}: max |Δ| {worst:.3e} > allowed "
            f"{report.allowed:.3e} over {count} items"
        )
    return report


def _reference_runner(path: Path) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """ONNX Runtime without graph fusions (checks the export, not an optimizer), else OpenVINO."""
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    if ort is not None:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda named: session.run([OUTPUT_NAME], named)[0]
    try:
        import openvino as ov
    except ImportError:
        raise BuildError("checking the ONNX export needs onnxruntime or openvino: pip install onnxruntime") from None
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return lambda named: np.asarray(compiled(named)[0])
