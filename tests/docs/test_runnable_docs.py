"""The docs run: every shell block marked ```` ```sh runnable ```` in README.md and docs/*.md is run, in order, in
one shell, against a fresh instance served as ``make run`` serves it, the way a user pastes them (from a directory
with the checkout's ``.venv``, after ``make run`` in another terminal). A block that stops working fails this test,
so the docs cannot rot unnoticed.

A document that sets up its own instance (the key ceremony: its own SoftHSM2 token, ``SEAL_*`` settings exported in
the shell, its own ``serve``) says so with the line ``<!-- runnable: own shell ... -->``. Its blocks run, in order,
in a shell of their own: in a new directory with the checkout's ``.venv`` (the document activates it), with no
``SEAL_*`` setting, a free port in ``PORT`` and a new empty directory in ``CEREMONY`` (the document's defaults are
8765 and ``/tmp/ceremony``). That shell runs in a process group of its own, which the test kills at the end, so a
background ``serve`` of a failed run is not left behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```sh runnable\n(.*?)^```", re.M | re.S)
#: The order a new user reads them in: the quick start first.
ORDER = ["docs/quickstart.md", "README.md"]
OWN_SHELL = "<!-- runnable: own shell"


def _own_shell(path: Path) -> bool:
    return OWN_SHELL in path.read_text(encoding="utf-8")


def _documents() -> list[Path]:
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    paths.sort(key=lambda p: (ORDER.index(str(p.relative_to(ROOT))) if str(p.relative_to(ROOT)) in ORDER else 99, p))
    return [p for p in paths if BLOCK.search(p.read_text(encoding="utf-8"))]


def _script(documents: list[Path] | None = None) -> str:
    """The runnable blocks of ``documents`` (default: every document that shares the served instance) as one
    script."""
    parts = ["set -euo pipefail"]
    for path in documents if documents is not None else [p for p in _documents() if not _own_shell(p)]:
        for number, block in enumerate(BLOCK.findall(path.read_text(encoding="utf-8")), start=1):
            where = f"{path.relative_to(ROOT)} block {number}"
            parts.append(f"echo '>>> {where}'")
            parts.append(block)
    return "\n".join(parts) + "\n"


def test_the_docs_mark_their_commands_runnable() -> None:
    names = {str(p.relative_to(ROOT)) for p in _documents()}
    assert {"docs/quickstart.md", "docs/lifecycle.md", "docs/key-ceremony.md"} <= names
    assert "demo-pdf -o licence.pdf" in _script()
    assert _own_shell(ROOT / "docs/key-ceremony.md") and "softhsm2-util --init-token" not in _script()
    assert "softhsm2-util --init-token" in _script([ROOT / "docs/key-ceremony.md"])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], int]]:
    """A fresh instance under ``.seal`` of a new directory, served on a free port as ``make run`` would."""
    for tool in ("pdfsig", "certutil"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make deps-test` installs it (the quick start uses it)")
    work = tmp_path / "user"
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_") and k != "PORT"}
    served_env = env | {"SEAL_HOME": str(work / ".seal"), "SEAL_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    init = subprocess.run(
        [".venv/bin/seal-service", "init"], cwd=work, env=served_env, capture_output=True, text=True, timeout=180
    )
    assert init.returncode == 0, init.stderr
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [".venv/bin/seal-service", "serve", "--port", str(port), "--log-level", "warning"],
        cwd=work, env=served_env | {"SEAL_SIGNING_PROCESSES": "1"}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        # The user's shell: the port they gave `make run`, nothing else of the instance (SEAL_HOME defaults to
        # .seal of the current directory, as for `make run`).
        yield work, env | {"PORT": str(port)}, port
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_every_runnable_block_of_the_docs_works_as_pasted(served: tuple[Path, dict[str, str], int]) -> None:
    work, env, port = served
    done = subprocess.run(
        ["bash", "-c", _script()], cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    output = done.stdout + done.stderr
    failed_in = re.findall(r">>> (.*)", done.stdout)
    assert done.returncode == 0, f"failed in {failed_in[-1] if failed_in else '?'}:\n{output[-4000:]}"
    # What the docs promise in their comments.
    assert f"verify     http://127.0.0.1:{port}/v/" in done.stdout, "PORT did not reach the licence's URLs"
    assert "Signature is Valid." in done.stdout and "Certificate is Trusted." in done.stdout, output[-3000:]
    assert "VALID" in done.stdout
    assert re.search(r"zz-bureau-approval\s+revoked", done.stdout), output[-3000:]


@pytest.mark.slow
def test_the_key_ceremony_runs_as_written(tmp_path: Path) -> None:
    """docs/key-ceremony.md in a shell of its own: SoftHSM2 token, two officers under dual control, rotation, CSR
    and import, retirement, a compromise watched over OCSP of its own ``serve``, the audit log and its tampering."""
    for tool in ("softhsm2-util", "openssl", "curl", "sqlite3"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make deps-test` installs it (the key ceremony uses it)")
    work = tmp_path / "user"
    work.mkdir()
    (work / ".venv").symlink_to(Path(sys.executable).parent.parent)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_") and k != "SOFTHSM2_CONF"}
    env |= {"PORT": str(port), "CEREMONY": str(tmp_path / "ceremony")}
    shell = subprocess.Popen(
        ["bash", "-c", _script([ROOT / "docs/key-ceremony.md"])], cwd=work, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = shell.communicate(timeout=300)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)  # whatever the shell left running (a `serve` of a failed run)
        shell.wait()
    output = stdout + stderr
    failed_in = re.findall(r">>> (.*)", stdout)
    assert shell.returncode == 0, f"failed in {failed_in[-1] if failed_in else '?'}:\n{output[-4000:]}"
    # What the guide promises in its comments, the refusals first (each may only be `|| echo`ed, so check them).
    assert "a different security officer must approve it" in output, output[-3000:]
    assert "is not for the pending key of seal jc-bureau-approval" in output, output[-3000:]
    assert "only a seal in use is rotated" in output, output[-3000:]
    assert re.search(r"seal jc-bureau-approval-2 is revoked .*keyCompromise", output), output[-3000:]
    assert '"local": true' in stdout and '"extractable": false' in stdout
    assert re.search(r"VALID\s+before-rotation\.pdf", stdout) and re.search(r"VALID\s+after-rotation\.pdf", stdout)
    assert "jc-bureau-approval-3.pem: OK" in stdout
    assert "jc-bureau-approval-2.pem: good" in stdout and "jc-bureau-approval-2.pem: revoked" in stdout
    assert "Reason: keyCompromise" in stdout
    assert "audit log intact" in stdout
    assert "was modified: its hash does not match" in output and "is missing (deleted?)" in output
    assert stdout.count("exit 4") == 2, output[-3000:]
    assert re.search(r"status\s+cancelled", stdout), output[-3000:]
    # PORT reached the public URL of section 3: the certificates point at the service the guide starts.
    ocsp_uri = subprocess.run(
        ["openssl", "x509", "-noout", "-ocsp_uri", "-in", str(tmp_path / "ceremony" / "jc-bureau-approval-2.pem")],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert ocsp_uri == f"http://127.0.0.1:{port}/ocsp", ocsp_uri
