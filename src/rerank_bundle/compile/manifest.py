"""The manifest written beside every built artifact, and the check run before loading one.

A manifest records what the artifact was built from (checkpoint, revision, file hash),
for what (target, precision, shape profiles, the library versions and hardware it is
tied to), when, and how close it came to torch fp32. `BuildKey` is the part that must
match the running process: a mismatch is logged and the artifact is not used.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..loading import ModelSpec

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
CACHE_ENV = "RERANK_BUNDLE_CACHE"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_META_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "modules.json", "1_Pooling/config.json")
# The CPU features that change what an int8/bf16 kernel computes or whether it runs natively.
BF16_ISA = frozenset({"avx512_bf16", "amx_bf16"})  # native bf16 dot products
_ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile")


@dataclass(frozen=True)
class BuildKey:
    """Everything that decides whether an existing artifact may be used as is."""

    source_sha256: str
    target: str
    precision: str
    libraries: dict[str, str]  # the runtime libraries the artifact is tied to: exact versions
    hardware: dict[str, Any]  # e.g. {"isa": [...]} on CPU, {"gpu": ..., "compute_capability": ...}
    options: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Manifest:
    model: str
    kind: str
    source: dict[str, str]  # checkpoint, revision, path
    key: BuildKey
    files: list[str]
    profiles: list[dict[str, Any]] = field(default_factory=list)
    hardware_name: str = ""
    built_at: str = ""
    build_seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)  # every library involved, for the record
    fidelity: dict[str, Any] | None = None  # Fidelity.as_dict() against torch fp32
    fidelity_passed: bool | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    @property
    def cache_key(self) -> str:
        return self.key.digest()

    def to_json(self) -> str:
        data = asdict(self)
        data["cache_key"] = self.cache_key
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        data = json.loads(text)
        data.pop("cache_key", None)
        data["key"] = BuildKey(**data["key"])
        return cls(**data)

    def write(self, directory: Path) -> Path:
        path = directory / MANIFEST_NAME
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, path)  # readers never see a half-written manifest
        return path


def read_manifest(directory: Path) -> Manifest | None:
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return Manifest.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("unreadable manifest %s (%s); treating the artifact as absent", path, exc)
        return None


def mismatch(found: Manifest, expected: BuildKey, directory: Path) -> str | None:
    """Why `found` cannot serve `expected`, in words; None when it can."""
    have = found.key
    if found.schema != SCHEMA_VERSION:
        return f"manifest schema {found.schema}, this runtime reads {SCHEMA_VERSION}"
    if (have.target, have.precision) != (expected.target, expected.precision):
        return f"built as {have.target}/{have.precision}, wanted {expected.target}/{expected.precision}"
    if have.source_sha256 != expected.source_sha256:
        return "checkpoint files changed since the build (hash differs)"
    for lib, version in expected.libraries.items():
        if have.libraries.get(lib) != version:
            return f"built with {lib} {have.libraries.get(lib, 'none')}, running {version}"
    for name, value in expected.hardware.items():
        if have.hardware.get(name) != value:
            return f"built for {name}={have.hardware.get(name)!r}, this machine has {value!r}"
    if have.options != expected.options:
        return f"build options differ: {have.options} vs {expected.options}"
    missing = [f for f in found.files if not (directory / f).is_file()]
    if missing:
        return f"artifact files missing: {', '.join(missing)}"
    return None


def source_fingerprint(spec: ModelSpec) -> str:
    """sha256 over the checkpoint's config, tokenizer and weight files.

    Weights in a hub cache are symlinks to blobs named by their own sha256, so their name
    is used instead of re-reading gigabytes at every start. Other checkpoints are hashed
    once per process while their files keep their size and modification time: loading,
    building and exporting one artifact (and trying several precisions) all ask for it.
    """
    path = Path(spec.path)
    files = [path / f for f in _META_FILES if (path / f).is_file()]
    files += sorted(p for p in path.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file())
    stamp = (str(path.resolve()), tuple((str(f.relative_to(path)), f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if stamp not in _FINGERPRINTS:
        _FINGERPRINTS[stamp] = _hash_files(path, files)
    return _FINGERPRINTS[stamp]


_FINGERPRINTS: dict[tuple, str] = {}


def _hash_files(path: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path)).encode())
        target = file.resolve()
        if file.is_symlink() and target.parent.name == "blobs" and len(target.name) >= 40:
            digest.update(target.name.encode())
        else:
            digest.update(file_sha256(target).encode())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def source_record(spec: ModelSpec) -> dict[str, str]:
    source = spec.entry.source
    revision = source.revision if source.hf else ""
    # A hub snapshot directory is named by the resolved commit.
    if source.hf and Path(spec.path).parent.name == "snapshots":
        revision = f"{source.revision} ({Path(spec.path).name})"
    return {"checkpoint": source.describe(), "revision": revision, "path": str(spec.path)}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_isa() -> list[str]:
    """The CPU features (of `_ISA_FLAGS`) this machine has, sorted."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return sorted(f for f in _ISA_FLAGS if f in flags)


def cache_root(cache_dir: str | Path | None = None, *, writable: bool = True) -> Path:
    """Where built artifacts live: the given dir, else $RERANK_BUNDLE_CACHE, else ~/.cache/rerank-bundle.

    With `writable` (the default: a build may follow) a directory that cannot be created or
    written (a read-only mount, a path under a file, a full disk) is replaced by a per-user
    temp dir, logged once with the reason, so the engines still build; the price is a
    rebuild after a restart. `writable=False` returns the configured dir as is, for reading
    artifacts built earlier (`RERANK_BUNDLE_BUILD=0`, or a pre-built read-only cache).
    """
    if cache_dir:
        root = Path(cache_dir).expanduser()
    else:
        env = os.environ.get(CACHE_ENV)
        root = Path(env).expanduser() if env else Path.home() / ".cache" / "rerank-bundle"
    if not writable:
        return root
    problem = unwritable(root)
    if problem is None:
        return root
    fallback = Path(tempfile.gettempdir()) / f"rerank-bundle-cache-{os.getuid()}"
    if str(root) not in _FALLBACK_LOGGED:
        _FALLBACK_LOGGED.add(str(root))
        log.warning("engine cache %s is not writable (%s); building into %s instead (not kept across restarts)",
                    root, problem, fallback)
    return fallback


_FALLBACK_LOGGED: set[str] = set()


def unwritable(root: Path) -> str | None:
    """Why `root` cannot hold new artifacts, or None. Tried for real: as root, permission
    bits say nothing, and a read-only mount only shows when something is written."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return None


def artifact_dir(root: Path, spec: ModelSpec, target: str, precision: str) -> Path:
    return root / spec.name / f"{target}-{precision}"
