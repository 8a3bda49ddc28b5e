"""Sealing throughput with seal keys in a SoftHSM2 token versus encrypted file keys, in the same run.

    .venv/bin/python bench/keys.py [--iterations 40] [--levels B-B B-LTA] [--algorithm ec-p256|rsa-3072]

Two throwaway SQLite instances, identical but for ``SEAL_KEY_BACKEND`` (``file``: PKCS#8 in the key store;
``pkcs11``: a fresh SoftHSM2 token, non-extractable keys, raw CKM_ECDSA). For each level it seals the same licence
with ``seal_licence`` (policy, PDF checks, serial, signature, record, audit entry), alternating file and token
document by document so that machine load hits both alike, and prints the median time per licence, licences per
second and the token/file ratio. It also times the bare key operation and a full rotation (new key, certificate,
atomic switch) in each backend. Not a test: it prints figures and exits 0.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding  # noqa: E402

from seal_service.services.registry import list_seals  # noqa: E402
from seal_service.services.rotation import rotate_seal  # noqa: E402
from seal_service.services.sealing import LicenceRequest, seal_licence  # noqa: E402
from seal_service.settings import KeyAlgorithm  # noqa: E402
from seal_service.signing.sealer import PadesLevel  # noqa: E402
from tests.conftest import make_instance, make_settings  # noqa: E402
from tests.support import softhsm  # noqa: E402
from tests.support.pdfs import sample_licence_pdf  # noqa: E402

SEAL = "jc-bureau-approval"


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def _key_op_us(key: object, algorithm: KeyAlgorithm, n: int = 200) -> float:
    data = b"x" * 64
    start = time.perf_counter()
    for _ in range(n):
        if algorithm is KeyAlgorithm.RSA_3072:
            key.sign(data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[attr-defined]
        else:
            key.sign(data, ec.ECDSA(hashes.SHA256()))  # type: ignore[attr-defined]
    return (time.perf_counter() - start) / n * 1e6


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40, help="licences per backend and level")
    parser.add_argument("--levels", nargs="+", default=["B-B", "B-LTA"], choices=[lv.value for lv in PadesLevel])
    parser.add_argument("--algorithm", default="ec-p256", choices=[a.value for a in KeyAlgorithm])
    args = parser.parse_args()
    algorithm = KeyAlgorithm(args.algorithm)
    if not softhsm.available():
        print("SoftHSM2 is not installed (apt-get install softhsm2)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-keys-") as tmp:
        started = time.perf_counter()
        instances = {
            "file": make_instance(make_settings(Path(tmp) / "file", key_algorithm=algorithm, key_backend="file")),
            "pkcs11": make_instance(
                make_settings(Path(tmp) / "hsm", key_algorithm=algorithm, **softhsm.pkcs11_settings())
            ),
        }
        print(f"machine    {_machine()}")
        print(f"algorithm  {algorithm.value}; SoftHSM2 token in {softhsm.session_token().conf.parent}")
        print(f"setup      two instances initialised in {time.perf_counter() - started:.1f} s")
        for name, instance in instances.items():
            ref = next(s for s in list_seals(instance) if s.id == SEAL).certificates[-1].key_ref
            print(f"key ({name:<6}) {ref}")
        pdf = sample_licence_pdf()

        print("\nbare key operation (sign 64 bytes, SHA-256), median of 3 x 200:")
        ops = {}
        for name, instance in instances.items():
            ref = next(s for s in list_seals(instance) if s.id == SEAL).certificates[-1].key_ref
            key = instance.keys.resolve(ref)
            ops[name] = statistics.median(_key_op_us(key, algorithm) for _ in range(3))
            print(f"  {name:<7} {ops[name]:8.1f} µs")
        print(f"  token/file {ops['pkcs11'] / ops['file']:.2f}x")

        print(f"\nseal_licence, {args.iterations} licences per backend and level, interleaved (median ms, licences/s):")
        rows = []
        for level_name in args.levels:
            level = PadesLevel(level_name)
            request = LicenceRequest(item_code="JC-001", holder_name="基准测试企业", seal_id=SEAL, level=level)
            times: dict[str, list[float]] = {"file": [], "pkcs11": []}
            for instance in instances.values():  # warm-up: material, fonts, OCSP/CRL caches
                seal_licence(instance, pdf, request, actor="bench", at=datetime.now(UTC))
            for _ in range(args.iterations):
                for name, instance in instances.items():
                    t0 = time.perf_counter()
                    seal_licence(instance, pdf, request, actor="bench", at=datetime.now(UTC))
                    times[name].append(time.perf_counter() - t0)
            file_ms = statistics.median(times["file"]) * 1000
            hsm_ms = statistics.median(times["pkcs11"]) * 1000
            rows.append((level_name, file_ms, hsm_ms))
            print(
                f"  {level_name:<6} file {file_ms:7.1f} ms ({1000 / file_ms:5.1f}/s)   "
                f"pkcs11 {hsm_ms:7.1f} ms ({1000 / hsm_ms:5.1f}/s)   throughput token/file {file_ms / hsm_ms:.3f}"
            )

        print("\nrotation (new key, certificate from the seal CA, atomic switch), median of 5:")
        for name, instance in instances.items():
            durations = []
            for _ in range(5):
                t0 = time.perf_counter()
                rotate_seal(instance, SEAL, at=datetime.now(UTC), actor="bench")
                durations.append(time.perf_counter() - t0)
            print(f"  {name:<7} {statistics.median(durations) * 1000:7.1f} ms")
        for instance in instances.values():
            instance.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
