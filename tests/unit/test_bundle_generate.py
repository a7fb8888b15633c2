"""The generator: models/ in the repository is up to date, and `--check` names every file
that drifted, is missing or is extra."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rerank_bundle.bundles.generate import run
from rerank_bundle.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[2]


def test_committed_bundles_are_up_to_date() -> None:
    # Exactly what CI runs: the script, from a checkout, with no install.
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_models.py"), "--check"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "model_template", tmp_path / "model_template")
    return tmp_path


def test_check_names_drifted_missing_and_extra_files(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = checkout / "config.yaml"
    assert run(catalog=catalog) == 0
    models = checkout / "models"
    assert run(check=True, catalog=catalog) == 0
    (models / "bge-m3" / "config.yaml").write_text("edited by hand\n")
    (models / "bge-m3" / "README.md").unlink()
    (models / "bge-m3" / "notes.txt").write_text("stray\n")
    capsys.readouterr()
    assert run(check=True, catalog=catalog) == 1
    out = capsys.readouterr().out
    assert f"drifted: {models / 'bge-m3' / 'config.yaml'}" in out
    assert f"missing: {models / 'bge-m3' / 'README.md'}" in out
    assert f"extra: {models / 'bge-m3' / 'notes.txt'}" in out
    # Regenerating repairs all three, and a removed catalog entry's bundle goes away.
    assert run(catalog=catalog) == 0
    assert run(check=True, catalog=catalog) == 0
    text = catalog.read_text()
    start = text.index("  - name: bge-m3")
    catalog.write_text(text[:start] + text[text.index("  - name: multilingual-e5-large"):])
    assert cli_main(["generate", "--catalog", str(catalog)]) == 0
    assert not (models / "bge-m3").exists()
    assert cli_main(["generate", "--check", "--catalog", str(catalog)]) == 0


def test_template_changes_show_up_as_drift(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalog = checkout / "config.yaml"
    run(catalog=catalog)
    readme = checkout / "model_template" / "README.md"
    readme.write_text(readme.read_text() + "\nOne more line.\n")
    capsys.readouterr()
    assert run(check=True, catalog=catalog) == 1
    assert capsys.readouterr().out.count("drifted: ") == 14  # one README per catalog model
