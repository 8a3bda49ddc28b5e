"""The trust bundle is accepted only when the service's bundle key signed it and it is current.

Negative cases for each check of ``verifier.bundle.load_trust_bundle``: a forged or altered signature, a signer
the root did not issue or issued for another purpose, a stale, future or rolled-back bundle, a bundle naming
another root.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from tests.support.bundles import ISSUED, MARKET_CREDIT, TestPki, certificate_entry, payload, signed
from verifier.bundle import (
    TRUST_BUNDLE_SIGNING,
    BundleError,
    BundleSignatureError,
    StaleBundleError,
    load_trust_bundle,
)
from verifier.errors import InputError

AT = ISSUED + timedelta(hours=1)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki()


@pytest.fixture(scope="module")
def content(pki: TestPki) -> dict:  # type: ignore[type-arg]
    cert = pki.seal_certificate("jc-market-approval", MARKET_CREDIT, "晋城市市场监督管理局")
    seal = {
        "id": "jc-market-approval",
        "name": "晋城市市场监督管理局行政许可专用章",
        "authority": "jc-market",
        "credit_code": MARKET_CREDIT,
        "status": "active",
        "certificates": [certificate_entry(cert)],
        "history": [],
    }
    return payload(pki, seals=[seal], version=5)


def test_the_oid_matches_the_service(pki: TestPki) -> None:
    from seal_service.pki.certificates import TRUST_BUNDLE_SIGNING as SERVICE_OID

    assert TRUST_BUNDLE_SIGNING == SERVICE_OID


def test_a_genuine_current_bundle_loads(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    bundle = load_trust_bundle(signed(pki, content), trust_roots=[pki.certs["root"]], at=AT)
    assert bundle.version == 5 and bundle.issued_at == ISSUED
    assert bundle.root == pki.certs["root"] and bundle.signer == pki.certs["bundle"]
    seal = bundle.seal("jc-market-approval")
    assert seal is not None and seal.credit_code == MARKET_CREDIT and seal.retirement is None
    serial = seal.certificates[0].serial
    assert bundle.certificate_of("jc-market-approval", serial.upper()) is seal.certificates[0]


def test_an_altered_payload_is_refused(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    document = json.loads(signed(pki, content))
    body = json.loads(base64.b64decode(document["payload"]))
    body["seals"][0]["status"] = "retired"  # any change at all
    document["payload"] = base64.b64encode(json.dumps(body).encode()).decode()
    with pytest.raises(BundleSignatureError, match="does not verify"):
        load_trust_bundle(json.dumps(document).encode(), trust_roots=[pki.certs["root"]], at=AT)


def test_a_signature_by_another_key_is_refused(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    # The bundle certificate with the TSA's key: the signature cannot verify.
    with pytest.raises(BundleSignatureError, match="does not verify"):
        load_trust_bundle(signed(pki, content, key_role="tsa"), trust_roots=[pki.certs["root"]], at=AT)


def test_another_service_certificate_cannot_sign_bundles(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    # A correct signature by the TSA, a certificate the root issued for time-stamping only.
    forged = signed(pki, content, key_role="tsa", cert_role="tsa")
    with pytest.raises(BundleSignatureError, match="not a trust bundle signer"):
        load_trust_bundle(forged, trust_roots=[pki.certs["root"]], at=AT)


def test_a_bundle_from_another_pki_is_refused(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    stranger = TestPki()
    forged = signed(stranger, payload(stranger, seals=content["seals"]))
    with pytest.raises(BundleSignatureError, match="not issued by any of the trust roots"):
        load_trust_bundle(forged, trust_roots=[pki.certs["root"]], at=AT)


def test_a_bundle_cannot_bring_its_own_root(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    stranger = TestPki()
    smuggled = signed(pki, {**content, **payload(pki, seals=content["seals"], root=stranger.certs["root"])})
    with pytest.raises(BundleSignatureError, match="names a root that is not among the trust roots"):
        load_trust_bundle(smuggled, trust_roots=[pki.certs["root"]], at=AT)


def test_a_stale_bundle_is_refused(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    document = signed(pki, content)
    load_trust_bundle(document, trust_roots=[pki.certs["root"]], at=ISSUED + timedelta(days=7) - timedelta(seconds=1))
    with pytest.raises(StaleBundleError, match="expired"):
        load_trust_bundle(document, trust_roots=[pki.certs["root"]], at=ISSUED + timedelta(days=7))


def test_a_bundle_from_the_future_is_refused(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(StaleBundleError, match="check the clock"):
        load_trust_bundle(signed(pki, content), trust_roots=[pki.certs["root"]], at=ISSUED - timedelta(minutes=6))


def test_a_rolled_back_bundle_is_refused(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    document = signed(pki, content)
    load_trust_bundle(document, trust_roots=[pki.certs["root"]], at=AT, min_version=5)
    with pytest.raises(StaleBundleError, match="older than version 6"):
        load_trust_bundle(document, trust_roots=[pki.certs["root"]], at=AT, min_version=6)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: b"not json", "not a JSON document"),
        (lambda d: json.dumps({**json.loads(d), "format": "other/1"}).encode(), "not a one-seal-trust-bundle/1"),
        (lambda d: json.dumps({**json.loads(d), "payload": "***"}).encode(), "payload is not valid base64"),
        (lambda d: json.dumps({k: v for k, v in json.loads(d).items() if k != "signature"}).encode(), "missing"),
    ],
)
def test_malformed_documents_are_refused(pki: TestPki, content: dict, mangle, message: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    with pytest.raises(BundleError, match=message):
        load_trust_bundle(mangle(signed(pki, content)), trust_roots=[pki.certs["root"]], at=AT)


def test_a_malformed_payload_names_the_field(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    broken = json.loads(json.dumps(content))
    broken["seals"][0]["certificates"][0]["sha256"] = "00" * 32
    with pytest.raises(BundleError, match=r"payload\.seals\[0\]\.certificates\[0\]\.sha256: does not match"):
        load_trust_bundle(signed(pki, broken), trust_roots=[pki.certs["root"]], at=AT)


def test_arguments_are_checked(pki: TestPki, content: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InputError, match="timezone-aware"):
        load_trust_bundle(signed(pki, content), trust_roots=[pki.certs["root"]], at=AT.replace(tzinfo=None))
    with pytest.raises(InputError, match="at least one trust root"):
        load_trust_bundle(signed(pki, content), trust_roots=[], at=AT)
