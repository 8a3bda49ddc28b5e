"""A SoftHSM2 token for this test process (or benchmark run), and the key-backend switch of the test suite.

``SEAL_TEST_KEY_BACKEND=pkcs11`` makes :func:`tests.conftest.make_settings` give every test instance the
PKCS#11 backend, so its seal keys are generated in this token. The token lives in a temporary directory named by
a temporary ``softhsm2.conf`` (``SOFTHSM2_CONF`` is set before the PKCS#11 module is first loaded, which is when
SoftHSM2 reads it) and is removed at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

MODULE = Path(os.environ.get("SEAL_TEST_PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so"))
TOKEN_LABEL = "seal"
#: A second token, for tests that need a token this process has not logged in to (wrong PIN).
SPARE_TOKEN_LABEL = "spare"
USER_PIN = "4321-test-pin"
SO_PIN = "8765-test-so-pin"


@dataclass(frozen=True)
class SoftHsmToken:
    """Where the token is and how to log in."""

    conf: Path
    module: Path
    label: str
    pin: str


_token: SoftHsmToken | None = None
_lock = threading.Lock()


def available() -> bool:
    """True when SoftHSM2 (module and ``softhsm2-util``) is installed."""
    return MODULE.exists() and shutil.which("softhsm2-util") is not None


def session_token() -> SoftHsmToken:
    """The token of this process, created on first use with ``softhsm2-util --init-token``."""
    global _token
    with _lock:
        if _token is not None:
            return _token
        if not available():
            raise RuntimeError(f"SoftHSM2 is not installed ({MODULE}); apt-get install softhsm2")
        base = Path(tempfile.mkdtemp(prefix="seal-softhsm-"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
        (base / "tokens").mkdir()
        conf = base / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n",
            encoding="utf-8",
        )
        os.environ["SOFTHSM2_CONF"] = str(conf)
        # Both tokens exist before the PKCS#11 module is first loaded (SoftHSM2 reads its slots at that point).
        for label in (TOKEN_LABEL, SPARE_TOKEN_LABEL):
            subprocess.run(
                ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", USER_PIN, "--so-pin", SO_PIN],
                check=True,
                capture_output=True,
                env={**os.environ, "SOFTHSM2_CONF": str(conf)},
            )
        _token = SoftHsmToken(conf=conf, module=MODULE, label=TOKEN_LABEL, pin=USER_PIN)
        return _token


def pkcs11_settings() -> dict[str, object]:
    """Settings fields that put new seal keys in the session token."""
    token = session_token()
    return {
        "key_backend": "pkcs11",
        "pkcs11_module": token.module,
        "pkcs11_token": token.label,
        "pkcs11_pin": token.pin,
    }


def backend_settings_from_env() -> dict[str, object]:
    """What ``SEAL_TEST_KEY_BACKEND`` asks of test instances: nothing for ``file`` (the default), the token for
    ``pkcs11``."""
    backend = os.environ.get("SEAL_TEST_KEY_BACKEND", "file")
    if backend == "file":
        return {}
    if backend == "pkcs11":
        return pkcs11_settings()
    raise RuntimeError(f"SEAL_TEST_KEY_BACKEND must be file or pkcs11, not {backend!r}")
