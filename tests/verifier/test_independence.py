"""The dependency rule: ``verifier/`` ships alone and never imports the service or its web/database stack."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import verifier

FORBIDDEN = ("seal_service", "fastapi", "sqlalchemy", "starlette", "uvicorn")
PACKAGE = Path(verifier.__file__).resolve().parent
ROOT = PACKAGE.parent


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (absolute names; relative imports resolved inside the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))  # importlib.import_module("x") / __import__("x")
    return found


def test_no_module_of_the_verifier_imports_the_service_stack() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) >= 6, modules  # __init__, errors, report, trust, verify, cli at least
    offences = [
        f"{path.relative_to(ROOT)}:{line}: imports {name}"
        for path in modules
        for line, name in _imports(path)
        if name.split(".")[0] in FORBIDDEN
    ]
    assert offences == []


BLOCKER = textwrap.dedent(
    """
    import importlib.abc
    import sys

    FORBIDDEN = {forbidden!r}

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ImportError(f"the verifier must not import {{name}}")
            return None

    sys.meta_path.insert(0, Blocker())
    for name in list(sys.modules):
        if name.split(".")[0] in FORBIDDEN:
            del sys.modules[name]

    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    import verifier.cli
    from verifier import Verdict, verify_pdf

    # Run it too, so that nothing imported lazily sneaks the service in.
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Root")])
    now = datetime.datetime.now(datetime.timezone.utc)
    root = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert verify_pdf(b"not a pdf", trust_roots=[root]).verdict is Verdict.INVALID
    assert verifier.cli.main(["missing.pdf"]) == 2
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in FORBIDDEN)
    assert loaded == [], loaded
    print("verifier imports alone")
    """
).format(forbidden=FORBIDDEN)


def test_the_verifier_imports_and_runs_with_the_service_unimportable() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "verifier imports alone" in result.stdout
