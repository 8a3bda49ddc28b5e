"""A tool that `make test` installs cannot vanish silently: skipped loudly in a local run, a failure in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
PROBE = """
from tests.support.requirements import needs, require


@needs("imaginary-tool", False)
def test_marked() -> None:
    pass


def test_called() -> None:
    require("other-tool", False, "other-tool (other-package) is not installed")


@needs("present-tool", True)
def test_present() -> None:
    pass
"""


def _run(tmp_path: Path, *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE, encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if k != "SEAL_TEST_REQUIRE_TOOLS"} | env
    environment["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only this plugin: quick
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.support.requirements",
         "--rootdir", str(tmp_path), *options, str(probe)],
        cwd=REPOSITORY, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_local_run_skips_and_says_so_loudly(tmp_path: Path) -> None:
    result = _run(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 2 skipped" in result.stdout
    assert "TOOLS MISSING: these tests did NOT run" in result.stdout
    assert "imaginary-tool: tests skipped: 1" in result.stdout and "other-tool: tests skipped: 1" in result.stdout


def test_the_summary_counts_the_skips_of_every_xdist_worker(tmp_path: Path) -> None:
    """`make test` runs the suite on pytest-xdist workers: their skips must reach the controller's summary."""
    result = _run(tmp_path, "-p", "xdist.plugin", "-n", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 2 skipped" in result.stdout
    assert "TOOLS MISSING: these tests did NOT run" in result.stdout
    assert "imaginary-tool: tests skipped: 1" in result.stdout and "other-tool: tests skipped: 1" in result.stdout


def test_ci_fails_instead(tmp_path: Path) -> None:
    result = _run(tmp_path, SEAL_TEST_REQUIRE_TOOLS="1")
    assert result.returncode != 0
    assert "1 passed" in result.stdout and "skipped" not in result.stdout.splitlines()[-1]
    assert "other-tool: tests FAILED: 1" in result.stdout
