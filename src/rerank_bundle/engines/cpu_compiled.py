"""Load a compiled CPU engine (OpenVINO or ONNX Runtime) from the artifact cache, building
the artifact on first start when it is absent or stale. The precision loop (`load_compiled`)
also serves the TensorRT engine (tensorrt_engine.py).

`precision: auto` on CPU means: the lowest precision whose fidelity, measured at build
time against torch fp32 and recorded in the manifest, passes the gate — int8, then bf16
(only on CPUs with native bf16), then fp32, which is always acceptable. Artifacts that
missed the gate stay cached with their verdict, so a restart does not rebuild them.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

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
    return load_compiled(
        spec, target=target, candidates=candidate_precisions(target, precision), auto=precision is Precision.AUTO,
        construct=lambda name, artifact: _construct(spec, target, name, artifact), cache_dir=cache_dir,
        allow_build=allow_build, skipped=skipped,
    )


def load_compiled(
    spec: ModelSpec, *, target: str, candidates: Sequence[str], auto: bool, construct: Callable[[str, Any], Engine],
    cache_dir: str | Path | None = None, allow_build: bool | None = None, skipped: list[tuple[str, str]] | None = None,
    may_build: Callable[[str], bool] = lambda precision: True, last_is_reference: bool = True,
) -> Engine:
    """The first of `candidates` (precisions, best first) with a usable cached or fresh artifact
    of `target`, loaded by `construct(precision, artifact)`; shared by the CPU and GPU targets.

    Under `auto` an artifact whose recorded fidelity missed the gate is passed over, except the
    last candidate when `last_is_reference` (fp32 on CPU: the reference precision itself).
    `may_build(precision)` says which precisions may be built here when none is cached.
    """
    from ..compile.artifacts import check_supported
    from ..compile.manifest import cache_root

    allow = building_allowed() if allow_build is None else allow_build
    configured = cache_root(cache_dir, writable=False)
    root = cache_root(cache_dir) if allow else configured  # a temp dir when `configured` is not writable
    reasons: list[str] = []
    for i, name in enumerate(candidates):
        try:
            check_supported(target, name)
            artifact = _cached_or_built(spec, target, name, root, configured, allow_build=allow and may_build(name))
        except EngineUnavailable as exc:
            _pass_over(reasons, skipped, target, name, str(exc))
            continue
        except Exception as exc:  # a failed build (export, quantizer, compiler) means "not here"
            log.warning("building %s/%s for %s failed", target, name, spec.name, exc_info=True)
            _pass_over(reasons, skipped, target, name, f"build failed: {type(exc).__name__}: {exc}")
            continue
        failed = artifact.manifest.fidelity_passed is False
        if auto and failed and not (last_is_reference and i == len(candidates) - 1):
            _pass_over(reasons, skipped, target, name,
                       f"fidelity vs torch fp32 misses the gate ({_summary(artifact.manifest.fidelity)})")
            continue
        if failed:
            log.warning("%s/%s for %s misses the fidelity gate (%s); used because it was asked for",
                        target, name, spec.name, _summary(artifact.manifest.fidelity))
        return construct(name, artifact)
    raise EngineUnavailable("; ".join(reasons) or f"no usable {target} artifact")


def _cached_or_built(
    spec: ModelSpec, target: str, precision: str, root: Path, configured: Path, *, allow_build: bool
) -> Any:
    from ..compile.artifacts import ensure_artifact, load_artifact

    if root != configured:  # the configured cache is read-only: use what was pre-built there
        try:
            return load_artifact(spec, target=target, precision=precision, root=configured)
        except EngineUnavailable:
            pass
    return ensure_artifact(spec, target=target, precision=precision, root=root, allow_build=allow_build)


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


def _pass_over(reasons: list[str], skipped: list[tuple[str, str]] | None, target: str, precision: str, reason: str) -> None:
    reasons.append(f"{precision}: {reason}")
    log.info("engine %s/%s skipped: %s", target, precision, reason)
    if skipped is not None:
        skipped.append((f"{target}/{precision}", reason))


def _summary(fidelity: dict | None) -> str:
    from ..compile.fidelity import Fidelity

    return Fidelity.from_dict(fidelity).summary() if fidelity else "not measured"
