"""Independent verifiers the project did not write: pyHanko's AdES validation and poppler's ``pdfsig``."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path

from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.policy_decl import (
    LocalKnowledge,
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.revinfo.archival import OCSPContainer


def pyhanko_ades_lta(
    pdf: bytes,
    root_der: bytes,
    *,
    at: datetime | None = None,
    ocsps: Sequence[bytes] = (),
    retroactive_revinfo: bool = False,
) -> tuple[str, str | None]:
    """Offline AdES LTA validation of the first signature, trusting only ``root_der``.

    ``at`` pins pyHanko's validation clock (default now); ``ocsps`` are DER OCSP responses the validator knows
    besides those in the file (e.g. one fetched after a cut-over, saying "revoked"); ``retroactive_revinfo``
    lets pyHanko use revocation information issued after its control time (its default freshness model calls
    that "too recent", which ETSI EN 319 102-1 does not).
    Returns (indication, sub-indication) as pyHanko names them, e.g. ("PASSED", None).
    """
    root = asn1_x509.Certificate.load(root_der)
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[root]),
        revinfo_policy=CertRevTrustPolicy(
            RevocationCheckingPolicy(
                ee_certificate_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
                intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
            ),
            retroactive_revinfo=retroactive_revinfo,
        ),
    )
    spec = PdfSignatureValidationSpec(
        SignatureValidationSpec(
            cert_validation_policy=policy,
            revinfo_gathering_policy=RevocationInfoGatheringSpec(
                online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
            ),
            local_knowledge=LocalKnowledge(
                known_ocsps=[c for der in ocsps for c in OCSPContainer.load_multi(asn1_ocsp.OCSPResponse.load(der))]
            ),
        )
    )
    reader = PdfFileReader(BytesIO(pdf))
    signature = reader.embedded_regular_signatures[0]
    timing = ValidationTimingInfo(at, at, point_in_time_validation=False) if at is not None else None
    result = asyncio.run(ades_lta_validation(signature, spec, timing_info=timing))
    sub = result.ades_subindic
    return sub.status.name, (None if sub.status.name == "PASSED" else sub.name)


def make_nss_db(directory: Path, root_pem: Path) -> Path:
    """An NSS certificate database that trusts ``root_pem`` for signing (what pdfsig reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{directory}", "-n", "one-seal-root", "-t", "CT,C,C", "-i", str(root_pem)],
        check=True,
    )
    return directory


def pdfsig(pdf_path: Path, nss_dir: Path, *extra: str) -> str:
    """Run poppler's ``pdfsig`` and return what it printed."""
    result = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss_dir}", *extra, str(pdf_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout + result.stderr


def pyhanko_ades_with_time_at_signature_time_stamp(pdf: bytes, root_der: bytes) -> tuple[str, str | None]:
    """pyHanko's AdES validation with time (ETSI EN 319 102-1 § 5.5) of the first signature, at the time of its
    signature time-stamp, trusting only ``root_der``, with the revocation data in the file's DSS (issued after
    that time: ``retroactive_revinfo``). Offline. Returns (indication, sub-indication) as pyHanko names them."""
    from pyhanko.sign.validation import ades
    from pyhanko.sign.validation.status import PdfSignatureStatus

    root = asn1_x509.Certificate.load(root_der)
    reader = PdfFileReader(BytesIO(pdf))
    signature = reader.embedded_regular_signatures[0]
    signature.compute_integrity_info()
    token = signature.signer_info["unsigned_attrs"][0]["values"][0]
    gen_time = token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
    dss = ades._dss_to_local_knowledge(reader)
    policy = CertValidationPolicySpec(
        trust_manager=SimpleTrustManager.build(trust_roots=[root]),
        revinfo_policy=CertRevTrustPolicy(
            RevocationCheckingPolicy(
                ee_certificate_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
                intermediate_ca_cert_rule=RevocationCheckingRule.CHECK_IF_DECLARED,
            ),
            retroactive_revinfo=True,
        ),
    )
    spec = SignatureValidationSpec(
        cert_validation_policy=policy,
        revinfo_gathering_policy=RevocationInfoGatheringSpec(online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY),
        local_knowledge=dss,
    )
    timing = ValidationTimingInfo(gen_time, gen_time, point_in_time_validation=True)
    result = asyncio.run(
        ades.ades_with_time_validation(
            signature.signed_data,
            spec,
            timing_info=timing,
            raw_digest=signature.compute_digest(),
            extra_status_kwargs=signature.summarise_integrity_info(),
            status_cls=PdfSignatureStatus,
        )
    )
    sub = result.ades_subindic
    return sub.status.name, (None if sub.status.name == "PASSED" else sub.name)
