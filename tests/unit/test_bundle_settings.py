"""A bundle's config.yaml as a one-model catalog: the typed block, cached weights first,
the hub source outside a deployment, and `--model models/<name>` / `--catalog` lookups."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from rerank_bundle.bundles.settings import BundleSettings, engine_cache_dir, read_bundle_dir, settings_from_config
from rerank_bundle.config import ModelSource, find_catalog_path, load_catalog
from rerank_bundle.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "models" / "bge-reranker-base"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    target = tmp_path / "app"
    target.mkdir()
    shutil.copy(BUNDLE / "config.yaml", target / "config.yaml")
    return target


def _fake_cached_weights(bundle: Path) -> Path:
    """What truss-transfer leaves in /app/model_cache/<folder>: a checkpoint directory."""
    weights = bundle / "model_cache" / "bge-reranker-base"
    weights.mkdir(parents=True)
    (weights / "config.json").write_text(json.dumps({"architectures": ["XLMRobertaForSequenceClassification"]}))
    return weights


def test_without_cached_weights_the_hub_source_is_used(bundle: Path) -> None:
    entry = read_bundle_dir(bundle)
    assert entry.source == ModelSource(hf="BAAI/bge-reranker-base", revision="main")
    assert (entry.name, entry.route, entry.max_input_length) == ("bge-reranker-base", "/rerank", 512)


def test_cached_weights_take_precedence(bundle: Path) -> None:
    weights = _fake_cached_weights(bundle)
    entry = read_bundle_dir(bundle)
    assert entry.source == ModelSource(path=str(weights.resolve()))
    assert entry.max_num_tokens == 16384  # every other setting is the catalog's


def test_bundle_config_is_a_one_model_catalog(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights = _fake_cached_weights(bundle)
    catalog = load_catalog(bundle / "config.yaml")
    assert catalog.default_model == "bge-reranker-base"
    assert catalog.resolve("bge-reranker-base").source.path == str(weights.resolve())
    # What the start command relies on: RERANK_BUNDLE_CATALOG names the bundle's config.
    monkeypatch.setenv("RERANK_BUNDLE_CATALOG", str(bundle / "config.yaml"))
    assert find_catalog_path() == bundle / "config.yaml"


def test_the_repo_catalog_resolves_a_bundle_directory() -> None:
    entry = load_catalog(ROOT / "config.yaml").resolve(str(BUNDLE))
    assert entry.name == "bge-reranker-base" and entry.source.hf == "BAAI/bge-reranker-base"


def test_block_rejects_unknown_and_misplaced_settings(bundle: Path) -> None:
    raw = yaml.safe_load((bundle / "config.yaml").read_text())
    block = raw["model_metadata"]["rerank_bundle"]
    BundleSettings.model_validate(block)
    for broken in (
        {**block, "typo": 1},
        {**block, "model": {**block["model"], "max_num_token": 1}},
        {**block, "model": {**block["model"], "route": None}},
        {**block, "cached_weights": "/app/model_cache/x"},
    ):
        with pytest.raises(ConfigError):
            settings_from_config({"model_metadata": {"rerank_bundle": broken}})
    with pytest.raises(ConfigError, match="generate_models"):
        settings_from_config({"model_metadata": {}})


def test_engine_cache_sits_beside_the_cached_weights_in_a_deployment(bundle: Path) -> None:
    raw = yaml.safe_load((bundle / "config.yaml").read_text())
    settings = settings_from_config(raw)
    assert settings.engine_cache == "model_cache/bge-reranker-base/.rerank-bundle-engines"
    # A checkout or laptop has no cached weights: the runtime's default cache, not models/<name>/.
    assert engine_cache_dir(settings, bundle) is None
    weights = _fake_cached_weights(bundle)
    assert engine_cache_dir(settings, bundle) == weights / ".rerank-bundle-engines"
    # The start command of the server variant points at the same folder.
    assert settings.engine_cache in raw["docker_server"]["start_command"]


def test_package_weights_have_no_volume_for_engines() -> None:
    raw = yaml.safe_load((ROOT / "models" / "all-minilm-l6-v2" / "config.yaml").read_text())
    settings = settings_from_config(raw)
    assert settings.cached_weights is None and settings.engine_cache is None
    assert engine_cache_dir(settings, ROOT / "models" / "all-minilm-l6-v2") is None
    assert "RERANK_BUNDLE_CACHE" not in raw["docker_server"]["start_command"]
