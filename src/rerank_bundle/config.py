"""The model catalog (root `config.yaml`): shared defaults plus one entry per model.

One pydantic schema validates it; a bad entry is a `ConfigError` that names the entry and
the field. `Catalog.resolve` turns a short name, a hub id or a local directory into a
`ModelEntry`, so every adapter (CLI, server, Truss bundle) loads models the same way.
"""
from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import ConfigError
from .types import ModelKind

CATALOG_ENV = "RERANK_BUNDLE_CATALOG"
ROUTES = ("/rerank", "/predict", "/embed", "/v1/embeddings", "/v1/rerank", "/v2/rerank", "/score")


class Precision(str, Enum):
    AUTO = "auto"  # fp16 on CUDA, fp32 on CPU
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"
    FP8 = "fp8"


class ModelSource(BaseModel):
    """Exactly one of: a hub repo (+revision), a local directory, a Python package shipping weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hf: str | None = None
    revision: str = "main"
    path: str | None = None
    package: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "ModelSource":
        given = [k for k in ("hf", "path", "package") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of hf, path, package (got {given or 'none'})")
        return self

    def describe(self) -> str:
        if self.hf:
            return f"{self.hf}@{self.revision}"
        return self.path or f"package:{self.package}"


class ModelSettings(BaseModel):
    """Fields every entry has; `defaults` in the catalog fills what an entry leaves out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ModelKind | None = None  # None: detected from the checkpoint
    max_input_length: int | None = Field(default=None, ge=8)  # None: from the checkpoint
    max_num_tokens: int = Field(default=16384, ge=64)  # padded tokens per forward pass
    max_batch_size: int = Field(default=128, ge=1)  # items per forward pass
    max_client_batch_size: int = Field(default=1000, ge=1)  # items per request
    max_queue_requests: int = Field(default=512, ge=1)  # waiting requests before 429
    route: str | None = None  # default route; None: from kind
    precision: Precision = Precision.AUTO
    accelerator: str = "L4"
    trust_remote_code: bool = False
    engine: str = "auto"
    predict_concurrency: int = Field(default=64, ge=1)
    # How a bundle is served: "server" (docker_server running `rerank-bundle serve`) or
    # "python" (truss's own server over model/model.py).
    bundle_variant: str = Field(default="server", pattern="^(server|python)$")

    @model_validator(mode="after")
    def _route_known(self) -> "ModelSettings":
        if self.route is not None and self.route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}, got {self.route!r}")
        return self


class ModelEntry(ModelSettings):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    source: ModelSource
    description: str = ""

    def default_route(self, kind: ModelKind) -> str:
        if self.route:
            return self.route
        return {ModelKind.RERANK: "/rerank", ModelKind.CLASSIFY: "/predict", ModelKind.EMBED: "/v1/embeddings"}[kind]


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: ModelSettings = ModelSettings()
    default_model: str
    models: tuple[ModelEntry, ...]

    def get(self, name: str) -> ModelEntry | None:
        for entry in self.models:
            if name in (entry.name, entry.source.hf):
                return entry
        return None

    def resolve(self, spec: str) -> ModelEntry:
        """A catalog name or hub id, else a bundle or checkpoint directory, else an uncatalogued hub id."""
        found = self.get(spec)
        if found is not None:
            return found
        base = self.defaults.model_dump()
        if Path(spec).expanduser().is_dir():
            path = Path(spec).expanduser().resolve()
            if (path / "config.yaml").is_file() and not (path / "config.json").is_file():
                from .bundles.settings import read_bundle_dir  # a Truss bundle, models/<name>/

                return read_bundle_dir(path)
            return ModelEntry(**base, name=_slug(path.name), source=ModelSource(path=str(path)))
        if spec.count("/") == 1 and not spec.startswith((".", "/")):
            return ModelEntry(**base, name=_slug(spec.split("/")[1]), source=ModelSource(hf=spec))
        known = ", ".join(e.name for e in self.models)
        raise ConfigError(f"unknown model {spec!r}: not a catalog name ({known}), a directory, or a hub id")


def _slug(text: str) -> str:
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in text.lower()).strip("-._")
    return slug or "model"


def parse_catalog(raw: dict[str, Any], *, origin: str = "catalog") -> Catalog:
    """Validate a catalog dict; entries inherit `defaults`. Errors name the entry and field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: top level must be a mapping with 'defaults' and 'models'")
    unknown = sorted(set(raw) - {"defaults", "default_model", "models"})
    if unknown:
        raise ConfigError(f"{origin}: unknown top-level keys {unknown}; expected defaults, default_model, models")
    models = raw.get("models") or []
    if not isinstance(models, list):
        raise ConfigError(f"{origin}: 'models' must be a list of entries")
    defaults = _validate(ModelSettings, raw.get("defaults") or {}, f"{origin}: defaults")
    entries = []
    for i, item in enumerate(models):
        label = f"{origin}: models[{i}]" + (f" ({item.get('name')})" if isinstance(item, dict) else "")
        if not isinstance(item, dict):
            raise ConfigError(f"{label}: must be a mapping")
        merged = {**defaults.model_dump(exclude_unset=True), **item}
        entries.append(_validate(ModelEntry, merged, label))
    names = [e.name for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{origin}: duplicate model names: {', '.join(dupes)}")
    default_model = raw.get("default_model") or (names[0] if names else "")
    if default_model not in names:
        raise ConfigError(f"{origin}: default_model {default_model!r} is not a catalog entry")
    return Catalog(defaults=defaults, default_model=default_model, models=tuple(entries))


def _validate(schema: type[BaseModel], data: dict[str, Any], label: str) -> Any:
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"field '{'.'.join(str(p) for p in err['loc']) or '<entry>'}': {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{label}: {problems}") from None


def find_catalog_path() -> Path:
    """$RERANK_BUNDLE_CATALOG, else ./config.yaml, else the repo root beside src/.

    A file named by the variable is used as is (a broken one must fail, not be skipped);
    a config.yaml found by looking counts only if it has `models` (a bundle directory's
    Truss config.yaml is not a catalog)."""
    env = os.environ.get(CATALOG_ENV)
    if env:
        if not Path(env).expanduser().is_file():
            raise ConfigError(f"{CATALOG_ENV}={env}: no such file")
        return Path(env).expanduser()
    candidates = [Path.cwd() / "config.yaml", Path(__file__).resolve().parents[2] / "config.yaml"]
    for path in candidates:
        if path.is_file() and _looks_like_catalog(path):
            return path
    raise ConfigError(f"no catalog found (set {CATALOG_ENV}); looked at {', '.join(map(str, candidates))}")


def _looks_like_catalog(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    from .bundles.settings import is_bundle_config  # a bundle's config.yaml is a one-model catalog

    return isinstance(data, dict) and ("models" in data or is_bundle_config(data))


def catalog_for(model: str | None) -> Catalog:
    """The catalog a model spec is resolved against when the caller names none: the usual
    config.yaml when there is one; without one (an installed package used as a library),
    a hub id or directory still resolves, with the built-in defaults."""
    try:
        path = find_catalog_path()
    except ConfigError:
        if model is None:
            raise
        return Catalog(default_model="", models=())
    return load_catalog(path)


def load_catalog(path: str | Path | None = None) -> Catalog:
    path = Path(path) if path else find_catalog_path()
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read catalog {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    from .bundles.settings import bundle_catalog, is_bundle_config

    if is_bundle_config(raw):
        return bundle_catalog(raw, bundle_dir=path.parent, origin=str(path))
    return parse_catalog(raw, origin=str(path))
