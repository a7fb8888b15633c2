"""Every bundle against truss 0.18's own config schema and build-context renderer (offline).

truss parses and validates each config.yaml; our lint then rejects what truss lets through.
`truss image build-context` renders the image context of a server-variant and a Python-
variant bundle; the start command in it (supervisord's program) is the one the
server-variant test runs.
"""
from __future__ import annotations

import configparser
import copy
from pathlib import Path

import pytest
import yaml

from fixtures.bundles import build_context, drop_weights_cache, render_bundle
from rerank_bundle.bundles.lint import lint_bundle

truss_config = pytest.importorskip("truss.base.truss_config", reason="truss==0.18.35 is a dev dependency")

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = sorted(p for p in (ROOT / "models").iterdir() if p.is_dir())


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.name for b in BUNDLES])
def test_truss_accepts_the_config_and_our_lint_is_clean(bundle: Path) -> None:
    config = truss_config.TrussConfig.from_yaml(bundle / "config.yaml")
    config.validate_forbid_extra()
    assert config.model_name == bundle.name
    assert lint_bundle(bundle) == []


def _mutations() -> list[tuple[str, object, str]]:
    def runtime_typo(raw: dict) -> None:
        raw["runtime"]["transport"] = {"kind": "http", "keepalive": 5}  # truss drops this silently

    def metadata_typo(raw: dict) -> None:
        raw["model_metadata"]["example_input"] = {}

    def block_typo(raw: dict) -> None:
        raw["model_metadata"]["rerank_bundle"]["model"]["max_num_token"] = 1

    def wrong_endpoint(raw: dict) -> None:
        raw["docker_server"]["predict_endpoint"] = "/predict"

    def wrong_revision(raw: dict) -> None:
        raw["model_cache"][0]["revision"] = "refs/pr/1"

    def wrong_example(raw: dict) -> None:
        raw["model_metadata"]["example_model_input"] = {"inputs": ["a"]}

    def wrong_accelerator(raw: dict) -> None:
        raw["resources"]["accelerator"] = "T4"

    return [
        ("runtime.transport", runtime_typo, "unknown key: runtime.transport.keepalive"),
        ("model_metadata", metadata_typo, "unknown key: model_metadata.example_input"),
        ("block", block_typo, "max_num_token"),
        ("predict_endpoint", wrong_endpoint, "predict_endpoint should be the default route /rerank"),
        ("revision", wrong_revision, "model_cache caches BAAI/bge-reranker-base@refs/pr/1"),
        ("example", wrong_example, "example_model_input is not a /rerank payload"),
        ("accelerator", wrong_accelerator, "resources.accelerator 'T4' should be 'L4'"),
    ]


@pytest.mark.parametrize(("what", "mutate", "problem"), _mutations(), ids=[m[0] for m in _mutations()])
def test_lint_rejects_what_truss_lets_through(tmp_path: Path, what: str, mutate, problem: str) -> None:
    bundle = render_bundle(tmp_path, "bge-reranker-base")
    raw = yaml.safe_load((bundle / "config.yaml").read_text())
    mutated = copy.deepcopy(raw)
    mutate(mutated)
    (bundle / "config.yaml").write_text(yaml.safe_dump(mutated, sort_keys=False))
    if what in ("runtime.transport", "model_metadata", "block"):  # truss itself finds nothing wrong
        truss_config.TrussConfig.from_yaml(bundle / "config.yaml").validate_forbid_extra()
    assert any(problem in p for p in lint_bundle(bundle)), lint_bundle(bundle)


def _supervisor_command(context: Path) -> str:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(context / "supervisord.conf")
    return parser["program:model-server"]["command"]


def test_build_context_of_the_server_variant(tmp_path: Path) -> None:
    # The committed embedded-default bundle, as is: it has no weights cache, so no network.
    bundle = ROOT / "models" / "all-minilm-l6-v2"
    context = build_context(bundle, tmp_path / "context", tmp_path / "truss-home")
    config = yaml.safe_load((bundle / "config.yaml").read_text())
    built = yaml.safe_load((context / "config.yaml").read_text())
    assert _supervisor_command(context) == config["docker_server"]["start_command"]
    assert built["model_metadata"]["rerank_bundle"] == config["model_metadata"]["rerank_bundle"]
    proxy = (context / "proxy.conf").read_text()
    assert "rewrite ^/v1/models/model:predict$ /rerank break;" in proxy
    assert "rewrite ^/v1/models/model$ /health break;" in proxy
    assert "proxy_pass http://127.0.0.1:7997;" in proxy  # every other path is forwarded unchanged
    assert (context / "packages" / "rerank_bundle" / "__main__.py").is_file()  # `python3 -m rerank_bundle`
    assert (context / "requirements.txt").read_text().split() == config["requirements"]
    dockerfile = (context / "Dockerfile").read_text()
    assert "COPY --chown=root:root ./packages /packages" in dockerfile
    assert "-gpu" not in dockerfile.splitlines()[2]  # accelerator: cpu -> the CPU base image
    assert "./server ${APP_HOME}" not in dockerfile  # our server, not truss's


def test_build_context_of_the_python_variant(tmp_path: Path) -> None:
    bundle = render_bundle(tmp_path, "bge-reranker-base", variant="python")
    assert lint_bundle(bundle) == []
    drop_weights_cache(bundle)  # with use_volume, truss would list the repo's files on the hub
    context = build_context(bundle, tmp_path / "context", tmp_path / "truss-home")
    assert not (context / "supervisord.conf").exists()
    assert (context / "model" / "model.py").read_text() == (bundle / "model" / "model.py").read_text()
    assert (context / "server" / "truss_server.py").is_file()
    assert (context / "packages" / "rerank_bundle" / "bundles" / "predictor.py").is_file()
    dockerfile = (context / "Dockerfile").read_text()
    assert "-gpu" in dockerfile.splitlines()[2]  # L4
    assert "ENTRYPOINT" in dockerfile and "/app/main.py" in dockerfile
