"""Long-term facts of a sealed PDF: until when its newest time-stamp can be checked, and revocation data fetched
on request (from the issuing service, or from the addresses in the certificates).

Example::

    until = verifiable_until(reader.embedded_signatures)   # the newest time-stamp's TSA certificate / algorithm
    crls, ocsps, notes = fetch_revocation(certs, RevocationSources(service_url="https://seal.example.gov.cn"))

**Verifiable until.** A proof of time is only as good as the time-stamp carrying it: once the TSA certificate of
the newest time-stamp expires (or its algorithm is no longer acceptable), nothing proves any more that the
time-stamp was made while that certificate was valid, and the file cannot be validated further. That date is
the earliest ``notAfter`` of the TSA certificate and its CA certificates in the token, or earlier when the
token's algorithms are known to weaken sooner (:data:`ALGORITHM_ENDS`). A B-LTA file is renewed before it with a
new document time-stamp (PAdES archive renewal). A B-B file has no time-stamp: it is validated at the current
time, so it is verifiable until its seal certificate (or a CA above it) expires.

**Fetching.** Offline is the default: nothing is fetched unless the caller gives :class:`RevocationSources`.
With ``service_url``, the CRLs named by the certificates' CRL distribution points are asked of that service (the
path of each address, on the given base URL: a service reached under another spelling of its address, e.g.
``localhost`` for ``127.0.0.1``, is still asked). With ``online``, the CRL and OCSP addresses in the certificates
are asked as they are. Whatever is fetched is only a candidate: pyHanko checks each CRL's and OCSP response's
signature and issuer against the trust roots before it counts.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

__all__ = [
    "ALGORITHM_ENDS",
    "RevocationSources",
    "fetch_revocation",
    "newest_time_stamp",
    "token_verifiable_until",
    "verifiable_until",
]

#: Algorithms with a published end of acceptability, and that end (NIST SP 800-57 Part 1 Rev. 5: 112-bit
#: security, e.g. RSA-2048, acceptable through 2030; SHA-1 and RSA-1024 disallowed for signatures after 2013).
#: SHA-256/384/512, ECDSA P-256/P-384 and RSA of 3072 bits or more have no announced end (BSI TR-02102-1:
#: "2030+"); the certificate's expiry then decides alone.
ALGORITHM_ENDS: dict[str, datetime] = {
    "sha1": datetime(2013, 12, 31, 23, 59, 59, tzinfo=UTC),
    "md5": datetime(2008, 12, 31, 23, 59, 59, tzinfo=UTC),
    "rsa<2048": datetime(2013, 12, 31, 23, 59, 59, tzinfo=UTC),
    "rsa<3072": datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC),
}

_MAX_FETCH = 10_000_000


@dataclass(frozen=True)
class RevocationSources:
    """Where revocation data may be fetched from besides the file and the caller's CRLs (default: nowhere)."""

    service_url: str | None = None
    """The issuing service's base URL (``seal-verify --service``): its CRLs are asked there."""

    online: bool = False
    """Ask the CRL and OCSP addresses in the certificates (``seal-verify --online``)."""

    timeout: float = 10.0
    """Seconds per request."""

    @property
    def any(self) -> bool:
        """Whether anything is to be fetched at all."""
        return bool(self.service_url) or self.online


def _first(certs: list[asn1_x509.Certificate], matches: Any) -> asn1_x509.Certificate | None:
    """The first of ``certs`` for which ``matches(cert, exact)`` holds, trying byte-equal names (``exact``) before
    asn1crypto's normalising name comparison (slow: it string-preps every attribute)."""
    for exact in (True, False):
        found = next((cert for cert in certs if matches(cert, exact)), None)
        if found is not None:
            return found
    return None


def _same_name(a: asn1_x509.Name, b: asn1_x509.Name, exact: bool) -> bool:
    return a.dump() == b.dump() if exact else bool(a == b)


def _token_signer(token: asn1_cms.ContentInfo) -> asn1_x509.Certificate | None:
    """The TSA certificate of an RFC 3161 token (the one its signer identifier names), None when not in it."""
    signed_data = token["content"]
    certs = [c.chosen for c in signed_data["certificates"] or () if c.name == "certificate"]
    sid = signed_data["signer_infos"][0]["sid"]
    if sid.name == "issuer_and_serial_number":
        serial, issuer = sid.chosen["serial_number"].native, sid.chosen["issuer"]
        return _first(
            certs, lambda cert, exact: cert.serial_number == serial and _same_name(cert.issuer, issuer, exact)
        )
    return next((cert for cert in certs if cert.key_identifier == sid.chosen.native), None)


def _algorithm_end(token: asn1_cms.ContentInfo, signer: asn1_x509.Certificate) -> datetime | None:
    signer_info = token["content"]["signer_infos"][0]
    ends: list[datetime] = []
    digest = signer_info["digest_algorithm"]["algorithm"].native
    if digest in ALGORITHM_ENDS:
        ends.append(ALGORITHM_ENDS[digest])
    public_key = signer.public_key
    if public_key.algorithm == "rsa":
        bits = public_key.bit_size
        if bits < 2048:
            ends.append(ALGORITHM_ENDS["rsa<2048"])
        elif bits < 3072:
            ends.append(ALGORITHM_ENDS["rsa<3072"])
    return min(ends) if ends else None


def token_verifiable_until(token: asn1_cms.ContentInfo) -> datetime | None:
    """Until when the RFC 3161 ``token`` can be validated: the earliest expiry of the certificates it carries (its
    TSA certificate and CA certificates), or the earlier end of its algorithms; None when its TSA certificate is
    not in it."""
    signer = _token_signer(token)
    if signer is None:
        return None
    certs = [c.chosen for c in token["content"]["certificates"] or () if c.name == "certificate"]
    ends: list[datetime] = [cert["tbs_certificate"]["validity"]["not_after"].native for cert in certs]
    algorithm = _algorithm_end(token, signer)
    if algorithm is not None:
        ends.append(algorithm)
    return min(ends)


def _signature_tst(sig: Any) -> asn1_cms.ContentInfo | None:
    attrs = sig.signer_info["unsigned_attrs"]
    if isinstance(attrs, asn1_core.Void):
        return None
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            token: asn1_cms.ContentInfo = attr["values"][0]
            return token
    return None


def newest_time_stamp(signatures: Sequence[Any]) -> asn1_cms.ContentInfo | None:
    """The time-stamp token that protects everything else: the newest document time-stamp, else the newest
    signature time-stamp of a seal; None when the file has no time-stamp at all."""
    doc_timestamps = [sig for sig in signatures if sig.sig_object_type == "/DocTimeStamp"]
    if doc_timestamps:
        newest = max(doc_timestamps, key=lambda sig: int(sig.signed_revision))
        return asn1_cms.ContentInfo({"content_type": "signed_data", "content": newest.signed_data})
    seals = sorted(
        (sig for sig in signatures if sig.sig_object_type != "/DocTimeStamp"), key=lambda sig: -int(sig.signed_revision)
    )
    for seal in seals:
        token = _signature_tst(seal)
        if token is not None:
            return token
    return None


def verifiable_until(signatures: Sequence[Any], seal_chain_ends: Iterable[datetime] = ()) -> datetime | None:
    """Until when the file with ``signatures`` can be validated (module docstring). ``seal_chain_ends`` are the
    expiry dates of the seal's certificate chain, which decide when the file has no time-stamp (B-B)."""
    token = newest_time_stamp(signatures)
    if token is not None:
        return token_verifiable_until(token)
    ends = list(seal_chain_ends)
    return min(ends) if ends else None


# --- fetching -----------------------------------------------------------------------------------------------------


def _uris(cert: asn1_x509.Certificate) -> tuple[list[str], list[str]]:
    """(CRL distribution point URLs, OCSP URLs) named in ``cert``, http(s) only."""
    crls = [url for dp in cert.crl_distribution_points or () for url in _dp_urls(dp) if _http(url)]
    ocsps = [url for url in cert.ocsp_urls if _http(url)]
    return crls, ocsps


def _dp_urls(dp: Any) -> list[str]:
    name = dp["distribution_point"]
    if name.name != "full_name":
        return []
    return [general.native for general in name.chosen if general.name == "uniform_resource_identifier"]


def _http(url: str) -> bool:
    return urllib.parse.urlsplit(url).scheme in ("http", "https")


def _on_service(url: str, service_url: str) -> str:
    """``url``'s path (and query) on the service's base URL."""
    parts = urllib.parse.urlsplit(url)
    base = urllib.parse.urlsplit(service_url.rstrip("/"))
    return urllib.parse.urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))


def _get(url: str, timeout: float, body: bytes | None = None, content_type: str | None = None) -> bytes:
    """The answer of ``url`` (POST ``body`` when given), remembered for :data:`FETCH_TTL` seconds, failures too (a
    batch of licences of one seal asks each address once, and waits for an unreachable one once)."""
    key = (url, body or b"")
    now = time.monotonic()
    cached = _FETCHED.get(key)
    if cached is not None and cached[0] > now:
        if isinstance(cached[1], str):
            raise OSError(cached[1])
        return cached[1]
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - http(s) only, checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data: bytes = response.read(_MAX_FETCH + 1)
        if len(data) > _MAX_FETCH:
            raise ValueError(f"larger than {_MAX_FETCH} bytes")
    except Exception as exc:
        _remember(key, now, str(getattr(exc, "reason", exc)))
        raise
    _remember(key, now, data)
    return data


def _remember(key: tuple[str, bytes], now: float, value: bytes | str) -> None:
    if len(_FETCHED) >= 1024:
        _FETCHED.clear()
    _FETCHED[key] = (now + FETCH_TTL, value)


FETCH_TTL = 300.0
"""Seconds a fetched CRL or OCSP answer (or a failure) is reused within one process."""

_FETCHED: dict[tuple[str, bytes], tuple[float, bytes | str]] = {}


def _ocsp_request(cert: asn1_x509.Certificate, issuer: asn1_x509.Certificate) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        x509.load_der_x509_certificate(cert.dump()), x509.load_der_x509_certificate(issuer.dump()), hashes.SHA256()
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


def fetch_revocation(
    certs: Sequence[asn1_x509.Certificate], sources: RevocationSources
) -> tuple[list[asn1_crl.CertificateList], list[asn1_ocsp.OCSPResponse], list[str]]:
    """CRLs and OCSP responses about ``certs`` (a seal certificate and its CAs) fetched as ``sources`` allow, and
    one English note per address that failed. Each address is asked once."""
    crls: list[asn1_crl.CertificateList] = []
    ocsps: list[asn1_ocsp.OCSPResponse] = []
    notes: list[str] = []
    if not sources.any:
        return crls, ocsps, notes
    asked: set[str] = set()
    by_subject = {cert.subject.dump(): cert for cert in certs}
    for cert in certs:
        if cert.subject.dump() == cert.issuer.dump():
            continue  # a trust anchor: not revocation-checked
        crl_urls, ocsp_urls = _uris(cert)
        targets: list[str] = []
        if sources.service_url:
            targets += [_on_service(url, sources.service_url) for url in crl_urls]
        if sources.online:
            targets += crl_urls
        for url in targets:
            if url in asked:
                continue
            asked.add(url)
            try:
                crl = asn1_crl.CertificateList.load(_get(url, sources.timeout))
                crl.native  # noqa: B018 - parse now: a bad answer is a note, not a crash later
            except Exception as exc:
                notes.append(f"CRL {url}: {getattr(exc, 'reason', exc)}")
            else:
                crls.append(crl)
        issuer = by_subject.get(cert.issuer.dump())
        if not sources.online or issuer is None:
            continue
        for url in ocsp_urls:
            key = f"ocsp {url} {cert.serial_number}"
            if key in asked:
                continue
            asked.add(key)
            try:
                answer = asn1_ocsp.OCSPResponse.load(
                    _get(url, sources.timeout, _ocsp_request(cert, issuer), "application/ocsp-request")
                )
                if answer["response_status"].native != "successful":
                    raise ValueError(f"OCSP status {answer['response_status'].native}")
                ocsps.append(answer)
            except Exception as exc:
                notes.append(f"OCSP {url}: {getattr(exc, 'reason', exc)}")
    return crls, ocsps, notes
