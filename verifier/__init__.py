"""The public verifier of sealed licences: offline PAdES verification, a report for machines and for people.

Example::

    from pathlib import Path

    from verifier import load_trust_roots, verify_pdf

    roots = load_trust_roots(["one-seal-root.pem"])          # PEM, several certificates per file allowed
    report = verify_pdf(Path("licence.pdf").read_bytes(), trust_roots=roots, file="licence.pdf")
    print(report.verdict)                                    # valid, invalid, indeterminate or modified
    print(report.indication, report.subindication)           # ETSI EN 319 102-1, e.g. TOTAL_PASSED None
    for message in report.messages:                          # plain language, zh-CN first, then English
        print(message)
    print(report.to_json())                                  # the JSON shape `seal-verify --json` prints

or, for many documents, once set up: ``Verifier.from_trust_roots(roots).verify(data)`` (see
:mod:`verifier.engine`: trust bundle, extra CRLs, online licence status); from a shell:
``seal-verify licence.pdf --trust-root one-seal-root.pem``.

This package ships alone: it imports the standard library and third-party crypto/PDF libraries (pyHanko,
pyhanko-certvalidator, cryptography, asn1crypto, pikepdf), never the service. Nothing is fetched from the
network unless asked (:class:`~verifier.ltv.RevocationSources` for revocation status of seals below B-LTA, a
licence registry for licence status); time is a parameter (``at``).
"""

from __future__ import annotations

from verifier.engine import Verifier, load_crls
from verifier.errors import InputError, VerifierError
from verifier.ltv import RevocationSources
from verifier.report import (
    Check,
    CheckOutcome,
    Indication,
    Message,
    SealInfo,
    SubIndication,
    Verdict,
    VerificationReport,
)
from verifier.trust import load_trust_roots, parse_trust_roots
from verifier.verify import verify_pdf, verify_pdf_async

__all__ = [
    "Check",
    "CheckOutcome",
    "Indication",
    "InputError",
    "Message",
    "RevocationSources",
    "SealInfo",
    "SubIndication",
    "Verdict",
    "VerificationReport",
    "Verifier",
    "VerifierError",
    "load_crls",
    "load_trust_roots",
    "parse_trust_roots",
    "verify_pdf",
    "verify_pdf_async",
]
