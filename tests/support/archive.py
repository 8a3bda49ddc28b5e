"""Helpers for archive-renewal tests and the renewal bench: B-LTA licences in bulk, a clock around TSA expiry, a
command run under libfaketime, and pyHanko's own AdES validation configured independently of our verifier."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from sqlalchemy import select

from seal_service.services.sealing import LicenceRequest, new_licence_id, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.models import Licence, LicenceDocument

REQUEST = LicenceRequest(
    item_code="JC-001",
    holder_name="晋城市示例餐饮有限公司",
    seal_id="jc-bureau-approval",
    level=PadesLevel.B_LTA,
    holder_code="11430000006122244L",
    holder_code_type="001",
)


def seal_blta(instance, pdf: bytes, *, at: datetime | None = None) -> str:  # type: ignore[no-untyped-def]
    """Seal ``pdf`` at PAdES B-LTA (time ``at``, default now); returns the licence id."""
    return str(seal_licence(instance, pdf, REQUEST, actor="test", at=at or datetime.now(UTC)).licence_id)


def clone_licences(instance, licence_id: str, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    """``count`` more stored licences with the same sealed PDF as ``licence_id`` (cheap bulk B-LTA archives)."""
    ids = []
    with instance.writer.begin() as session:
        source = session.get(Licence, licence_id)
        pdf = session.get(LicenceDocument, licence_id).pdf
        columns = {c.key: getattr(source, c.key) for c in Licence.__table__.columns}
        for n in range(count):
            new_id = new_licence_id()
            row = Licence(
                **columns
                | {
                    "id": new_id,
                    "identifier": f"{source.identifier}.c{n}",
                    "serial": f"C{n:07d}-{new_id[-6:]}",
                    "number": f"{source.number}-C{n}-{new_id[-6:]}",  # licence numbers are unique
                }
            )
            session.add(row)
            session.add(LicenceDocument(licence_id=new_id, pdf=pdf))
            ids.append(new_id)
    return ids


def stored_versions(instance, licence_id: str) -> list[tuple[int, bytes, str]]:  # type: ignore[no-untyped-def]
    """(version, bytes, recorded SHA-256) of every stored version, oldest first."""
    from seal_service.storage.archive_models import LicenceVersion

    with instance.sessions() as session:
        licence = session.get(Licence, licence_id)
        first = session.get(LicenceDocument, licence_id).pdf
        rows = session.scalars(
            select(LicenceVersion).where(LicenceVersion.licence_id == licence_id).order_by(LicenceVersion.version)
        ).all()
        return [(1, first, licence.document_sha256), *((r.version, r.pdf, r.sha256) for r in rows)]


def faketime_available() -> bool:
    """Whether Debian's ``faketime`` (libfaketime) is installed."""
    return shutil.which("faketime") is not None


def run_at(moment: datetime, argv: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with the wall clock set to ``moment`` by libfaketime (Debian ``faketime``)."""
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_")} | {"TZ": "UTC"}
    return subprocess.run(
        ["faketime", stamp, *argv], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


PYHANKO_ADES = r"""
import asyncio, hashlib, json, sys
from io import BytesIO
from asn1crypto import x509 as ax
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import PdfSignatureValidationSpec, SignatureValidationSpec, LocalKnowledge
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import (CertRevTrustPolicy, NonRevokedStatusAssertion,
    RevocationCheckingPolicy, RevocationCheckingRule)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko.sign.validation.policy_decl import RevocationInfoGatheringSpec
from pyhanko.sign.validation.policy_decl import RevinfoOnlineFetchingRule
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from datetime import datetime, timezone

root = ax.Certificate.load(open(sys.argv[1], "rb").read())
trust = SimpleTrustManager.build(trust_roots=[root])
out = {}
for path in sys.argv[2:]:
    reader = PdfFileReader(BytesIO(open(path, "rb").read()))
    now = datetime.now(timezone.utc)
    # "Not revoked now" for the newest document time-stamp's TSA certificate: offline there is no fresher CRL.
    newest = reader.embedded_timestamp_signatures[-1].signer_cert
    rule = RevocationCheckingRule.CHECK_IF_DECLARED
    ts_policy = CertValidationPolicySpec(
        trust_manager=trust, revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(rule, rule)))
    seal_rule = RevocationCheckingRule.CRL_OR_OCSP_REQUIRED
    seal_policy = CertValidationPolicySpec(
        trust_manager=trust, revinfo_policy=CertRevTrustPolicy(RevocationCheckingPolicy(seal_rule, seal_rule)))
    spec = PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=seal_policy, ts_cert_validation_policy=ts_policy,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
        local_knowledge=LocalKnowledge(nonrevoked_assertions=[
            NonRevokedStatusAssertion(hashlib.sha256(newest.dump()).digest(), now)])))
    result = asyncio.run(ades_lta_validation(reader.embedded_regular_signatures[0], spec,
        ValidationTimingInfo(validation_time=now, best_signature_time=now, point_in_time_validation=False)))
    out[path] = [result.ades_subindic.status.name, getattr(result.ades_subindic, "name", None)]
print(json.dumps(out))
"""


def pyhanko_ades_at(moment: datetime, root_der: Path, pdfs: list[Path]) -> dict[str, list[str | None]]:
    """pyHanko's AdES LTA validation (``ades_lta_validation``) of each PDF with the clock at ``moment``."""
    import json

    done = run_at(moment, [sys.executable, "-c", PYHANKO_ADES, str(root_der), *map(str, pdfs)])
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, list[str | None]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def parses(pdf: bytes) -> bool:
    """Whether pyHanko reads the PDF and finds its signatures."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        return bool(PdfFileReader(BytesIO(pdf)).embedded_signatures)
    except Exception:
        return False
