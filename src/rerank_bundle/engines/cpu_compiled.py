"""Load a compiled CPU engine (OpenVINO or ONNX Runtime) from the artifact cache, building
the artifact on first start when it is absent or stale.

`precision: auto` on CPU means: the lowest precision whose fidelity, measured at build
time against torch fp32 and recorded in the manifest, passes the gate — int8, then bf16
(only on CPUs with native bf16), then fp32, which is always acceptable. Artifacts that
missed the gate stay cached with their verdict, so a restart does not rebuild them.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ..config import Precision
from ..errors import EngineUnavailable
from ..loading import ModelSpec
from .base import Engine

log = logging.getLogger(__name__)

BUILD_ENV = "RERANK_BUNDLE_BUILD"  # "0": never build at start, only use what is cached
_AUTO_ORDER = {"openvino": ("int8", "bf16", "fp32"), "onnxruntime": ("int8", "fp32")}


def building_allowed() -> bool:
    return os.environ.get(BUILD_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def candidate_precisions(target: str, precision: Precision) -> tuple[str, ...]:
    if precision is Precision.AUTO:
        return _AUTO_ORDER[target]
    return (precision.value,)


def load_cpu_engine(
    spec: ModelSpec, *, target: str, precision: Precision = Precision.AUTO, cache_dir: str | Path | None = None,
    allow_build: bool | None = None, skipped: list[tuple[str, str]] | None = None,
) -> Engine:
    """The first acceptable precision of `target` for this model; EngineUnavailable if none."""
    from ..compile.artifacts import check_supported, ensure_artifact
    from ..compile.manifest import cache_root

    root = cache_root(cache_dir)
    allow = building_allowed() if allow_build is None else allow_build
    candidates = candidate_precisions(target, precision)
    reasons: list[str] = []
    for i, name in enumerate(candidates):
        last = i == len(candidates) - 1
        try:
            check_supported(target, name)
            artifact = ensure_artifact(spec, target=target, precision=name, root=root, allow_build=allow)
        except EngineUnavailable as exc:
            reasons.append(f"{name}: {exc}")
            _note(skipped, f"{target}/{name}", str(exc))
            continue
        except Exception as exc:  # a failed build (export, quantizer, compiler) means "not here"
            log.warning("building %s/%s for %s failed", target, name, spec.name, exc_info=True)
            reasons.append(f"{name}: build failed: {type(exc).__name__}: {exc}")
            _note(skipped, f"{target}/{name}", f"build failed: {type(exc).__name__}: {exc}")
            continue
        if precision is Precision.AUTO and artifact.manifest.fidelity_passed is False and not last:
            reason = f"fidelity vs torch fp32 misses the gate ({_summary(artifact.manifest.fidelity)})"
            reasons.append(f"{name}: {reason}")
            _note(skipped, f"{target}/{name}", reason)
            continue
        if artifact.manifest.fidelity_passed is False:
            log.warning("%s/%s for %s misses the fidelity gate (%s); used because it was asked for",
                        target, name, spec.name, _summary(artifact.manifest.fidelity))
        return _construct(spec, target, name, artifact)
    raise EngineUnavailable("; ".join(reasons) or f"no usable {target} artifact")


def _construct(spec: ModelSpec, target: str, precision: str, artifact: object) -> Engine:
    directory = artifact.directory  # type: ignore[attr-defined]
    notes = artifact.manifest.notes  # type: ignore[attr-defined]
    if target == "openvino":
        from .openvino_engine import OpenVinoEngine

        return OpenVinoEngine(
            directory / "model.xml", spec=spec, precision=precision, shape_mode=notes.get("shape_mode", "dynamic"),
            int8_rest=notes.get("int8_rest", "f32"),
        )
    from .onnxruntime_engine import OnnxRuntimeEngine

    return OnnxRuntimeEngine(directory / "model.onnx", spec=spec, precision=precision)


def _note(skipped: list[tuple[str, str]] | None, name: str, reason: str) -> None:
    log.info("engine %s skipped: %s", name, reason)
    if skipped is not None:
        skipped.append((name, reason))


def _summary(fidelity: dict | None) -> str:
    from ..compile.fidelity import Fidelity

    return Fidelity.from_dict(fidelity).summary() if fidelity else "not measured"
