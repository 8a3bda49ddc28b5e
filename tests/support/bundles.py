"""Signed trust bundles made in tests, with a PKI generated on the spot (no instance needed).

The documents are signed the way the service signs them (``seal_service.services.trust_bundle.sign_payload``)
with certificates from the service's own profiles, so the verifier's checks meet the real format.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from seal_service.memoranda import cut_over_instant
from seal_service.pki.certificates import (
    PkiUrls,
    SealSubject,
    build_bundle_certificate,
    build_ca,
    build_root,
    build_seal_certificate,
    build_tsa_certificate,
)
from seal_service.services.trust_bundle import canonical_json, iso, sign_payload

ISSUED = datetime(2026, 6, 1, tzinfo=UTC)
URLS = PkiUrls("http://127.0.0.1:9")
MARKET_CREDIT = "11140500MB0345678Y"
BUREAU_CREDIT = "11140500MB01234568"


def _b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


@dataclass
class TestPki:
    """A root, a seal CA, a TSA and a bundle signer, made at ``ISSUED`` minus a year."""

    __test__ = False  # not a test class, despite the name

    at: datetime = ISSUED - timedelta(days=365)
    keys: dict[str, ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    certs: dict[str, x509.Certificate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for role in ("root", "seal-ca", "tsa", "bundle"):
            self.keys[role] = ec.generate_private_key(ec.SECP256R1())
        root = build_root(key=self.keys["root"], at=self.at)
        self.certs["root"] = root
        common = {"issuer": root, "issuer_key": self.keys["root"], "at": self.at, "urls": URLS}
        self.certs["seal-ca"] = build_ca(key=self.keys["seal-ca"], **common)  # type: ignore[arg-type]
        self.certs["tsa"] = build_tsa_certificate(key=self.keys["tsa"], **common)  # type: ignore[arg-type]
        self.certs["bundle"] = build_bundle_certificate(key=self.keys["bundle"], **common)  # type: ignore[arg-type]

    def seal_certificate(self, seal_id: str, credit_code: str, authority_name: str) -> x509.Certificate:
        """A seal certificate from the seal CA, named like the service names them."""
        return build_seal_certificate(
            subject=SealSubject(
                seal_name=authority_name + "专用章",
                authority_name=authority_name,
                credit_code=credit_code,
                jurisdiction_code="140500",
                seal_id=seal_id,
            ),
            public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
            issuer=self.certs["seal-ca"],
            issuer_key=self.keys["seal-ca"],
            at=self.at,
            urls=URLS,
        )


def certificate_entry(cert: x509.Certificate, revocation: dict[str, Any] | None = None) -> dict[str, Any]:
    """A seal certificate as the bundle lists it."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return {
        "serial": format(cert.serial_number, "x"),
        "sha256": hashlib.sha256(der).hexdigest(),
        "der": base64.b64encode(der).decode(),
        "not_before": iso(cert.not_valid_before_utc),
        "not_after": iso(cert.not_valid_after_utc),
        "revocation": revocation,
    }


def retirement_event(day: date, memorandum: int | None = 1, successor: str = "jc-bureau") -> dict[str, Any]:
    """A seal's retirement in its history."""
    return {
        "status": "retired",
        "at": iso(cut_over_instant(day)),
        "date": day.isoformat(),
        "memorandum": memorandum,
        "successor": successor,
    }


def payload(
    pki: TestPki,
    *,
    seals: list[dict[str, Any]],
    version: int = 1,
    issued_at: datetime = ISSUED,
    validity: timedelta = timedelta(days=7),
    items: list[dict[str, Any]] | None = None,
    root: x509.Certificate | None = None,
) -> dict[str, Any]:
    """A bundle payload around ``seals``; the demo catalogue's JC-004 history unless ``items`` is given."""
    return {
        "bundle_format": 1,
        "version": version,
        "issued_at": iso(issued_at),
        "next_update": iso(issued_at + validity),
        "publisher": "http://127.0.0.1:9",
        "pki": {
            "root": _b64(root or pki.certs["root"]),
            "seal-ca": _b64(pki.certs["seal-ca"]),
            "tsa": _b64(pki.certs["tsa"]),
            "bundle": _b64(pki.certs["bundle"]),
        },
        "authorities": [
            {
                "code": "jc-bureau",
                "name": "晋城市行政审批服务管理局",
                "kind": "bureau",
                "jurisdiction": "140500",
                "credit_code": BUREAU_CREDIT,
            },
            {
                "code": "jc-market",
                "name": "晋城市市场监督管理局",
                "kind": "department",
                "jurisdiction": "140500",
                "credit_code": MARKET_CREDIT,
            },
        ],
        "seals": seals,
        "items": items or [],
        "memoranda": [],
    }


def signed(pki: TestPki, content: dict[str, Any], *, key_role: str = "bundle", cert_role: str = "bundle") -> bytes:
    """The signed document, as the service makes it (optionally with the wrong key or certificate)."""
    return sign_payload(canonical_json(content), certificate=pki.certs[cert_role], key=pki.keys[key_role])
