"""The unit suite must run without torch. The per-test guard in conftest.py only sees the
first import in a process, and a full `make test` loads torch for the integration tests,
so this re-runs the unit suite in a fresh interpreter and reports who imported torch."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

UNIT_DIR = Path(__file__).resolve().parent
CHILD_FLAG = "RERANK_BUNDLE_UNIT_CHILD"

CHILD = f"""
import sys, traceback
importers = []
def watch(event, args):
    if event == "import" and args[0] == "torch" and not importers:
        importers.append("".join(traceback.format_stack(limit=30)))
sys.addaudithook(watch)
import pytest
code = pytest.main([{str(UNIT_DIR)!r}, "-q", "-x", "-p", "no:cacheprovider", "--no-header"])
if "torch" in sys.modules:
    print("UNIT TESTS IMPORTED TORCH via:\\n" + (importers[0] if importers else "(unknown)"))
    sys.exit(3)
sys.exit(int(code))
"""


@pytest.mark.timeout(300)
def test_unit_suite_runs_without_torch():
    if os.environ.get(CHILD_FLAG):
        pytest.skip("this is the child run")
    env = {**os.environ, CHILD_FLAG: "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=UNIT_DIR.parents[1], env=env, capture_output=True, text=True, timeout=280
    )
    output = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, output
    assert "passed" in output
