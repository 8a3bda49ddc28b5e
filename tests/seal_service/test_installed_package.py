"""An installed package works from any directory: its policies come from the installation (package data) or
``SEAL_POLICIES_DIR``, never from the current directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_") and k != "PYTHONPATH"}
    env.update(extra)
    return env


def _settings_probe(cwd: Path, env: dict[str, str]) -> str:
    code = "from seal_service.settings import Settings; print(Settings().catalogue_path)"
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_default_policies_do_not_depend_on_the_current_directory(tmp_path: Path) -> None:
    # A directory with a policies/ of its own must not be picked up: only the installation's or SEAL_POLICIES_DIR.
    decoy = tmp_path / "policies"
    decoy.mkdir()
    (decoy / "catalogue.toml").write_text("not = 'the catalogue'\n")
    found = Path(_settings_probe(tmp_path, _env()))
    assert found.is_file() and decoy not in found.parents
    assert found.read_bytes() == (ROOT / "policies" / "catalogue.toml").read_bytes()
    own = tmp_path / "bureau-policies"
    own.mkdir()
    assert Path(_settings_probe(tmp_path, _env(SEAL_POLICIES_DIR=str(own)))) == own / "catalogue.toml"


@pytest.mark.slow
def test_a_wheel_installed_elsewhere_runs_from_any_directory(tmp_path: Path) -> None:
    # Built from a copy of the sources, as pip builds in place and would leave build/ in the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("seal_service", "verifier", "policies"):
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    site = tmp_path / "site"
    (wheel,) = wheels.glob("one_seal-*.whl")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    shipped = site / "seal_service" / "policies" / "catalogue.toml"
    assert shipped.is_file() and not shipped.is_symlink()

    # Run the installed copy (PYTHONPATH comes before the checkout's editable install) from an empty directory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _env(PYTHONPATH=str(site), SEAL_HOME=str(elsewhere / "instance"))
    cli = [sys.executable, "-c", "import sys; from seal_service.cli import main; sys.exit(main())"]
    where = subprocess.run(
        [sys.executable, "-c", "import seal_service; print(seal_service.__file__)"], cwd=elsewhere, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert where.stdout.startswith(str(site)), where.stdout
    for argv in (["init"], ["catalogue", "--json"]):
        done = subprocess.run([*cli, *argv], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
    assert '"JC-001"' in done.stdout
