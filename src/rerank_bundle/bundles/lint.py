"""Checks on a bundle's config.yaml beyond what truss itself enforces.

truss validates its schema and `validate_forbid_extra()` rejects unknown keys on most of
its sections, but lets some through silently (anything under model_metadata, keys of
plain-pydantic sections such as runtime.transport, build.arguments). A typo there is a
setting that silently does nothing, so `lint_bundle` walks the raw YAML against truss's
own models, validates our block, and checks the fields that must agree with each other.
Needs truss installed (a dev dependency); imported only by tests and tooling.
"""
from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, RootModel

from ..errors import RerankBundleError
from . import payloads
from .settings import BLOCK_KEY, BUNDLE_CONFIG, METADATA_KEYS, BundleSettings, settings_from_config


def lint_bundle(bundle_dir: str | Path) -> list[str]:
    """Every problem found in `bundle_dir/config.yaml`; empty when the bundle is sound."""
    from truss.base.truss_config import TrussConfig

    path = Path(bundle_dir) / BUNDLE_CONFIG
    raw = yaml.safe_load(path.read_text())
    try:
        TrussConfig.from_yaml(path).validate_forbid_extra()
    except Exception as exc:  # truss raises pydantic and plain ValueErrors alike
        return [f"truss rejects the config: {exc}"]
    problems = [f"unknown key: {key}" for key in unknown_keys(raw, TrussConfig)]
    metadata = raw.get("model_metadata") or {}
    problems += [f"unknown key: model_metadata.{key}" for key in sorted(set(metadata) - METADATA_KEYS)]
    try:
        settings = settings_from_config(raw, origin=str(path))
    except Exception as exc:
        return problems + [str(exc)]
    return problems + consistency(raw, settings, bundle_dir=Path(bundle_dir))


def unknown_keys(data: Any, model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted paths of mapping keys that no field of `model` (recursively) declares."""
    if not isinstance(data, dict):
        return []
    found = []
    for key, value in data.items():
        field = model.model_fields.get(key) or _by_alias(model, key)
        if field is None:
            found.append(f"{prefix}{key}")
            continue
        candidates = _submodels(field.annotation)
        if candidates:
            found += _unknown_in_all(value, candidates, f"{prefix}{key}")
    return found


def _unknown_in_all(value: Any, candidates: list[tuple[type[BaseModel], bool]], label: str) -> list[str]:
    """For a union (e.g. runtime.transport), a key is unknown only if no member declares it."""
    many = any(in_list for _, in_list in candidates)
    items = value if many and isinstance(value, list) else [value]
    found: list[str] = []
    for i, item in enumerate(items):
        prefix = f"{label}[{i}]." if many else f"{label}."
        unknown = [set(unknown_keys(item, model, prefix)) for model, _ in candidates]
        found += sorted(set.intersection(*unknown))
    return found


def _by_alias(model: type[BaseModel], key: str) -> Any:
    return next((f for f in model.model_fields.values() if f.alias == key), None)


def _submodels(annotation: Any) -> list[tuple[type[BaseModel], bool]]:
    """Pydantic models inside an annotation, each with whether it sits in a list."""
    out: list[tuple[type[BaseModel], bool]] = []
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation)[: 1 if origin is typing.Annotated else None]:
            out += _submodels(arg)
    elif origin in (list, tuple):
        out += [(m, True) for m, _ in _submodels(typing.get_args(annotation)[0])]
    elif isinstance(annotation, type) and issubclass(annotation, RootModel):
        out += _submodels(annotation.model_fields["root"].annotation)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        out.append((annotation, False))
    return out


def consistency(raw: dict[str, Any], settings: BundleSettings, *, bundle_dir: Path) -> list[str]:
    """Fields that must say the same thing in two places."""
    entry, route = settings.model, settings.route
    problems = []
    if raw.get("model_name") != entry.name:
        problems.append(f"model_name {raw.get('model_name')!r} is not the block's model {entry.name!r}")
    accelerator = (raw.get("resources") or {}).get("accelerator")
    expected = None if entry.accelerator.lower() == "cpu" else entry.accelerator
    if accelerator != expected:
        problems.append(f"resources.accelerator {accelerator!r} should be {expected!r} (catalog: {entry.accelerator})")
    if (raw.get("runtime") or {}).get("predict_concurrency") != entry.predict_concurrency:
        problems.append("runtime.predict_concurrency differs from the catalog entry")
    problems += _check_server(raw.get("docker_server"), settings)
    problems += _check_cache(raw.get("model_cache") or [], settings)
    if not any((bundle_dir / d / "rerank_bundle").is_dir() for d in raw.get("external_package_dirs") or []):
        problems.append("external_package_dirs does not point at the folder holding rerank_bundle/")
    example = (raw.get("model_metadata") or {}).get("example_model_input")
    try:
        assert entry.kind is not None
        if payloads.detect_route(example, default_route=route, kind=entry.kind) != route:
            problems.append(f"example_model_input is not a {route} payload")
        payloads.parse(route, example, model=entry.name)
    except (RerankBundleError, AssertionError) as exc:
        problems.append(f"example_model_input: {exc}")
    return problems


def _check_server(server: dict[str, Any] | None, settings: BundleSettings) -> list[str]:
    variant = settings.model.bundle_variant
    if variant == "python":
        return ["the python variant must not have a docker_server block"] if server else []
    if not server:
        return [f"the {variant} variant needs a docker_server block"]
    problems = []
    if server.get("predict_endpoint") != settings.route:
        problems.append(f"docker_server.predict_endpoint should be the default route {settings.route}")
    for key in ("readiness_endpoint", "liveness_endpoint"):
        if server.get(key) != "/health":
            problems.append(f"docker_server.{key} should be /health")
    command = str(server.get("start_command") or "")
    if f"rerank_bundle serve --model {settings.model.name} " not in command:
        problems.append("docker_server.start_command does not serve this bundle's model")
    if f":-{server.get('server_port')}}}" not in command:
        problems.append("docker_server.start_command does not listen on server_port")
    return problems


def _check_cache(cache: list[dict[str, Any]], settings: BundleSettings) -> list[str]:
    source = settings.model.source
    if not source.hf:
        return ["model_cache is set but the weights do not come from the hub"] if cache else []
    if len(cache) != 1:
        return [f"expected one model_cache entry for {source.hf}, found {len(cache)}"]
    item, problems = cache[0], []
    if (item.get("repo_id"), item.get("revision")) != (source.hf, source.revision):
        problems.append(f"model_cache caches {item.get('repo_id')}@{item.get('revision')}, not {source.describe()}")
    if item.get("use_volume") is not True:
        problems.append("model_cache needs use_volume: true (weights fetched at start, not baked in)")
    if f"model_cache/{item.get('volume_folder')}" != settings.cached_weights:
        problems.append(f"{BLOCK_KEY}.cached_weights does not match model_cache volume_folder")
    return problems
