"""The signing test suite once more with every seal key in a SoftHSM2 token instead of a file.

The sealing tests, the independent-verifier tests (pyHanko AdES, poppler pdfsig, QR), the rotation-under-load
test and the API's sealing-process tests run in a child pytest with ``SEAL_TEST_KEY_BACKEND=pkcs11``: every test
instance then generates its seal keys in the token (``make_instance`` asserts that no seal key is a file), and the
same assertions must hold.

Run it alone with ``SEAL_TEST_KEY_BACKEND=pkcs11 pytest tests/seal_service/test_sealing.py ...``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import softhsm
from tests.support.requirements import needs

ROOT = Path(__file__).resolve().parents[2]
SUITE = [
    "tests/seal_service/test_sealing.py",
    "tests/e2e/test_independent_verifiers.py",
    "tests/e2e/test_rotation_concurrent.py::test_rotation_under_load_keeps_every_licence_valid",
    "tests/seal_service/api/test_sealing_processes.py",  # sealing processes open PKCS#11 sessions of their own
]


@needs("softhsm2", softhsm.available())
@pytest.mark.skipif(os.environ.get("SEAL_TEST_KEY_BACKEND") == "pkcs11", reason="this run already uses the HSM")
def test_the_signing_suite_passes_with_softhsm_keys() -> None:
    env = {**os.environ, "SEAL_TEST_KEY_BACKEND": "pkcs11"}
    env.pop("SOFTHSM2_CONF", None)  # the child makes a token of its own
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *SUITE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
    assert result.returncode == 0, tail
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
