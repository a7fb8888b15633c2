"""Build driver and artifact cache: export once, build per target/precision, reuse when unchanged.

Layout under the cache root ($RERANK_BUNDLE_CACHE, ~/.cache/rerank-bundle, or a given dir):

    <root>/<model>/onnx-fp32/             model.onnx + manifest.json (shared by all targets)
    <root>/<model>/<target>-<precision>/  the artifact + manifest.json

An artifact is reused when its manifest's `BuildKey` matches what this process would
build (checkpoint hash, target, precision, library version, CPU features, options);
otherwise the mismatch is logged and, where building is allowed, it is rebuilt. Builds
happen in a staging directory renamed into place, under a per-model file lock, so
concurrent starts neither see half-written artifacts nor build twice.
"""
from __future__ import annotations

import fcntl
import functools
import importlib
import importlib.util
import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..engines.shape_profiles import profile_limits
from ..errors import ConfigError, EngineUnavailable
from ..loading import ModelSpec
from . import BuildError
from .context import BuildContext, TargetResult
from .export import DEFAULT_OPSET, export_checked
from .fidelity import FidelityGate, FidelityProbe
from .manifest import (
    BF16_ISA, BuildKey, Manifest, file_sha256, artifact_dir, cache_root, cpu_isa, cpu_name, mismatch, read_manifest, source_fingerprint,
    source_record,
)

log = logging.getLogger(__name__)

# Bumped whenever the exported graph changes (3: last layer for the first token only),
# so artifacts built by an older version are rebuilt instead of reused.
BUILDER_VERSION = 3
# target -> (precisions it builds, python packages whose versions the artifact is tied to)
TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "openvino": (("fp32", "bf16", "int8"), ("openvino",)),
    "onnxruntime": (("fp32", "int8"), ("onnxruntime",)),
    # GPU: compile/tensorrt.py provides build(ctx) like the CPU targets; the key adds the GPU.
    "tensorrt": (("fp16", "fp8"), ("tensorrt",)),
}
_EXTRA_VERSIONS = ("torch", "transformers", "onnx", "nncf", "onnxruntime", "openvino")


@dataclass(frozen=True)
class Artifact:
    directory: Path
    manifest: Manifest
    reused: bool

    def path(self, name: str) -> Path:
        return self.directory / name


def _version(package: str) -> str:
    """The installed version of `package`, also when the module comes from a distribution of
    another name: `import tensorrt` is installed by `tensorrt-cu13` (or `-cu12`) without the
    `tensorrt` metapackage, which is how a bundle pins the CUDA major it needs."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        pass
    for distribution in _module_distributions().get(package, []):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return ""


@functools.lru_cache(maxsize=1)
def _module_distributions() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()  # scans every installed distribution: once


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ValueError, ImportError):  # e.g. sys.modules[module] is None: import blocked
        return False


def check_supported(target: str, precision: str) -> None:
    if target not in TARGETS:
        raise ConfigError(f"unknown build target {target!r}; targets: {', '.join(TARGETS)}")
    precisions, packages = TARGETS[target]
    if precision not in precisions:
        raise EngineUnavailable(f"{target} builds {', '.join(precisions)}, not {precision}")
    missing = [p for p in packages if not (_version(p) and _importable(p))]
    if missing:
        extra = "gpu-engines" if target == "tensorrt" else "cpu-engines"
        raise EngineUnavailable(f"{target} needs {', '.join(missing)}: pip install 'rerank-bundle[{extra}]'")
    if target != "tensorrt" and precision == "bf16" and not BF16_ISA & set(cpu_isa()):
        raise EngineUnavailable("bf16 needs a CPU with AVX512-BF16 or AMX; this one would emulate it (slower than fp32)")


def expected_key(spec: ModelSpec, target: str, precision: str, *, calibration: str = "builtin") -> BuildKey:
    check_supported(target, precision)
    libraries = {p: _version(p) for p in TARGETS[target][1]}
    hardware = target_hardware(target, precision)
    return BuildKey(
        source_sha256=source_fingerprint(spec), target=target, precision=precision, libraries=libraries,
        hardware=hardware, options=build_options(spec, target, precision, calibration=calibration),
    )


def build_options(spec: ModelSpec, target: str, precision: str, *, calibration: str = "builtin") -> dict[str, Any]:
    """The settings besides source, libraries and hardware that decide what a build produces."""
    options: dict[str, Any] = {"builder": BUILDER_VERSION, "opset": DEFAULT_OPSET}
    if precision in ("int8", "fp8"):  # calibrated precisions depend on the calibration data
        options["calibration"] = calibration
    if target == "tensorrt":  # the plan's optimization profiles are planned from these limits
        options.update(profile_limits(spec))
    return options


def target_hardware(target: str, precision: str) -> dict[str, Any]:
    """The hardware facts an artifact is tied to."""
    if target == "tensorrt":  # an engine plan runs only on the GPU model it was built for
        from ..engines.tensorrt_engine import GpuIdentity, import_torch_cuda

        gpu = GpuIdentity.current(import_torch_cuda())
        return {"gpu": gpu.name, "compute_capability": gpu.capability}
    # fp32 runs the same on any x86 CPU; int8/bf16 kernels (and so fidelity) depend on the ISA.
    return {"isa": cpu_isa()} if precision in ("int8", "bf16") else {}


def load_artifact(spec: ModelSpec, *, target: str, precision: str, root: Path) -> Artifact:
    """A cached artifact that matches this process; EngineUnavailable (logged) otherwise."""
    directory = artifact_dir(root, spec, target, precision)
    found = read_manifest(directory)
    if found is None:
        raise EngineUnavailable(f"no {target}/{precision} artifact in {directory}")
    reason = mismatch(found, expected_key(spec, target, precision, calibration=found.key.options.get("calibration", "builtin")), directory)
    if reason:
        log.warning("refusing %s artifact %s: %s", target, directory, reason)
        raise EngineUnavailable(f"artifact {directory} does not match: {reason}")
    return Artifact(directory=directory, manifest=found, reused=True)


def ensure_artifact(spec: ModelSpec, *, target: str, precision: str, root: Path, allow_build: bool = True) -> Artifact:
    try:
        return load_artifact(spec, target=target, precision=precision, root=root)
    except EngineUnavailable as exc:
        if not allow_build:
            raise
        log.info("building %s/%s for %s (%s)", target, precision, spec.name, exc)
    return build_artifact(spec, target=target, precision=precision, root=root)


def ensure_onnx(spec: ModelSpec, root: Path, *, progress: bool = True) -> Path:
    """The shared fp32 ONNX export, exported (and checked against torch) if absent or stale."""
    directory = artifact_dir(root, spec, "onnx", "fp32")
    key = BuildKey(
        source_sha256=source_fingerprint(spec), target="onnx", precision="fp32",
        libraries={"torch": _version("torch"), "transformers": _version("transformers")}, hardware={},
        options={"builder": BUILDER_VERSION, "opset": DEFAULT_OPSET},
    )
    found = read_manifest(directory)
    if found is not None and mismatch(found, key, directory) is None:
        return directory / "model.onnx"
    start = time.perf_counter()
    with _staging(directory) as staging:
        parity = export_checked(spec, staging / "model.onnx", progress=progress)  # raises BuildError beyond tolerance
        files = sorted(p.name for p in staging.iterdir() if p.is_file())
        notes = {"max_abs_diff_vs_torch": parity.max_abs_diff, "parity_items": parity.items}
        _manifest(spec, key, files, TargetResult(files=files, fidelity=None, notes=notes), start).write(staging)
    return directory / "model.onnx"


def build_artifact(
    spec: ModelSpec, *, target: str, precision: str, root: Path | None = None, calibration_file: Path | None = None,
    force: bool = False, progress: bool = True, gate: FidelityGate = FidelityGate(),
) -> Artifact:
    """Build (or reuse) one artifact; the manifest records its measured fidelity."""
    root = Path(root).expanduser() if root else cache_root()
    # Keyed by content: editing the calibration file triggers a rebuild, renaming it does not.
    calibration = f"sha256:{file_sha256(Path(calibration_file))[:16]}" if calibration_file else "builtin"
    key = expected_key(spec, target, precision, calibration=calibration)
    directory = artifact_dir(root, spec, target, precision)
    with _model_lock(root, spec):
        found = read_manifest(directory)
        if found is not None and not force and mismatch(found, key, directory) is None:
            log.info("reusing %s (cache key %s)", directory, found.cache_key)
            return Artifact(directory=directory, manifest=found, reused=True)
        onnx_path = ensure_onnx(spec, root, progress=progress)
        start = time.perf_counter()
        module = importlib.import_module(f"{__package__}.{target}")
        with _staging(directory) as staging, _bar(f"build {spec.name} → {target}/{precision}", progress) as bar:
            ctx = BuildContext(
                spec=spec, onnx_path=onnx_path, out_dir=staging, precision=precision, probe=FidelityProbe(spec),
                gate=gate, calibration_file=calibration_file, bar=bar,
            )
            result: TargetResult = module.build(ctx)
            manifest = _manifest(spec, key, result.files, result, start, gate=gate)
            manifest.write(staging)
    _log_fidelity(directory, manifest)
    return Artifact(directory=directory, manifest=manifest, reused=False)


def _manifest(
    spec: ModelSpec, key: BuildKey, files: list[str], result: TargetResult, start: float, *, gate: FidelityGate | None = None
) -> Manifest:
    fidelity = result.fidelity
    return Manifest(
        model=spec.name, kind=spec.kind.value, source=source_record(spec), key=key, files=files,
        profiles=result.profiles, hardware_name=str(key.hardware.get("gpu") or cpu_name()),
        built_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), build_seconds=round(time.perf_counter() - start, 2),
        versions={p: v for p in _EXTRA_VERSIONS if (v := _version(p))},
        fidelity=fidelity.as_dict() if fidelity else None,
        fidelity_passed=fidelity.passes(gate) if fidelity and gate else None, notes=result.notes,
    )


def _log_fidelity(directory: Path, manifest: Manifest) -> None:
    from .fidelity import Fidelity

    if manifest.fidelity:
        verdict = "passes" if manifest.fidelity_passed else "FAILS"
        log.info("built %s in %.0fs; vs torch fp32: %s (%s the gate)", directory, manifest.build_seconds,
                 Fidelity.from_dict(manifest.fidelity).summary(), verdict)


@contextmanager
def _staging(directory: Path) -> Iterator[Path]:
    """Build into a sibling directory and swap it in only when everything succeeded."""
    staging = directory.with_name(f".{directory.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    staging.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _model_lock(root: Path, spec: ModelSpec) -> Iterator[None]:
    lock_dir = root / spec.name
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _bar(description: str, enabled: bool) -> Iterator[Any]:
    from tqdm.auto import tqdm

    with tqdm(desc=description, unit="step", disable=not enabled) as bar:
        yield bar


__all__ = ["Artifact", "BuildError", "TARGETS", "build_artifact", "ensure_artifact", "ensure_onnx", "load_artifact"]
