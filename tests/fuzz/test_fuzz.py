"""Fuzzing in the suite: every seed and every past finding replays cleanly, and a short coverage-guided run of all
targets finds nothing new. ``make fuzz`` runs each target for minutes (tests/fuzz/README.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS, Harness, corpus

ROOT = Path(__file__).resolve().parents[2]
_BUILT: dict[str, Harness] = {}


def _harness(name: str) -> Harness:
    if name not in _BUILT:
        _BUILT[name] = TARGETS[name].build()
    return _BUILT[name]


def test_every_target_has_seeds_from_real_files() -> None:
    for name in TARGETS:
        seeds = [p for p in corpus(name) if "regressions" not in p.parts]
        assert seeds, f"no seed corpus for {name}"
        assert all(p.stat().st_size <= 16 * 1024 for p in seeds), f"{name}: keep seeds small"


@pytest.mark.parametrize("name", list(TARGETS))
def test_seeds_and_regressions_replay_cleanly(name: str) -> None:
    harness = _harness(name)
    for path in corpus(name):
        data = path.read_bytes()
        harness(data)
        # Cut short and with a flipped byte as well: the cheapest mutations, every time.
        harness(data[: len(data) // 2])
        if data:
            middle = len(data) // 2
            harness(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :])


@pytest.mark.parametrize("name", ["cms", "ocsp_request", "tsa_request", "trust_bundle"])
def test_a_harness_can_fail(name: str) -> None:
    # The harness reports a finding when the entry point misbehaves: here the entry point is swapped for one that
    # raises an unexpected error, and the harness must let it through.
    harness = _harness(name)
    with pytest.raises(Exception, match="boom"):
        _broken(name, harness)


def _broken(name: str, harness: Harness) -> None:
    import seal_service.protocols.ocsp as ocsp_module
    import seal_service.protocols.tsa as tsa_module
    import verifier._cms as cms_module
    import verifier.bundle as bundle_module

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    swaps = {
        "cms": (cms_module, "signed_data"),
        "ocsp_request": (ocsp_module.OCSPResponder, "respond"),
        "tsa_request": (tsa_module.TimestampAuthority, "respond"),
        "trust_bundle": (bundle_module, "load_trust_bundle"),
    }
    owner, attribute = swaps[name]
    original = getattr(owner, attribute)
    setattr(owner, attribute, boom)
    try:
        # Built afresh so that the harness picks up the swapped function.
        TARGETS[name].build()(b"\x30\x00")
    finally:
        setattr(owner, attribute, original)


@pytest.mark.slow
def test_a_short_coverage_guided_run_finds_nothing(tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="atheris is part of the test extra (pip install -e '.[test]')")
    env = {**os.environ, "FUZZ_INSTRUMENT": "ours", "FUZZ_ARTIFACTS": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", "all", "-max_total_time=4", "-timeout=10", "-rss_limit_mb=2048"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    findings = list(tmp_path.iterdir())
    tail = done.stderr[-3000:]
    assert done.returncode == 0 and not findings, f"fuzzing found {findings}:\n{tail}"
    assert "Done" in done.stderr and "runs in" in done.stderr, tail
