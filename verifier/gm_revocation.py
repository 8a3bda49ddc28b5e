"""Revocation status of SM2 seal certificates (国密): SM2-signed CRLs and the trust bundle's status entries.

Example::

    >>> status = national_status(signer, issuer, signed_at=t, proven=True, at=now,
    ...                          crls=[sm2_crl_der], bundle=None, sources=None)        # doctest: +SKIP
    >>> status.outcome, status.message.en                                          # doctest: +SKIP
    ('good', 'SM2 seal certificate not revoked (CRL 3 of ..., issued ...)')

The rules mirror the PAdES seal's (docs/verification.md, docs/gm-crypto.md "Revocation"):

1. Sources: the caller's SM2 CRLs (``seal-verify --crl``), the CRLs fetched with ``--service URL`` (the path of
   the certificate's CRL distribution point on that URL, else ``/crl/sm2-seal-ca.crl``) or ``--online`` (the
   distribution point as written), and a checked trust bundle's status entries for SM2 seal certificates. An
   SES_Signature has no room for revocation data issued after it was made (its only field outside the signed
   ``TBS_Sign`` is the time-stamp), so nothing is embedded.
2. A CRL counts only when it names the signer certificate's issuer and its SM2-with-SM3 signature (user id
   1234567812345678) verifies under the issuer's key; a CRL with the issuer's name but another key's signature is
   reported, never used.
3. Listed with an effective time (the revocation date, or the invalidity date of a key compromise when earlier)
   at or before the signing time: **revoked**, the national seal is invalid.
4. Listed with a later effective time: good when a trusted time-stamp proves the signing time, else
   indeterminate (the claimed time in ``TBS_Sign`` is the signer's word only).
5. Not listed: good when a source was issued at or after the signing time or is still current (before its
   nextUpdate); otherwise the sources are **stale**: indeterminate.
6. No source at all: indeterminate, saying what to give. Never valid by silence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import x509

from verifier.gm_structures import SM2_WITH_SM3, sm2_public_key, sm2_verify
from verifier.report import Message

__all__ = [
    "SM2_CRL_PATH",
    "NationalStatus",
    "Sm2CrlError",
    "Sm2StatusEntry",
    "fetch_sm2_crls",
    "is_sm2_crl",
    "national_status",
]

#: Where the service publishes the SM2 seal CA's CRL (beside ``/crl/seal-ca.crl`` of the P-256 seal CA).
SM2_CRL_PATH = "/crl/sm2-seal-ca.crl"


class Sm2CrlError(ValueError):
    """An SM2 CRL that cannot be used: unreadable, not SM2-with-SM3, or not signed by the issuer's key."""


@dataclass(frozen=True)
class Sm2StatusEntry:
    """A revocation as a source states it."""

    revoked_at: datetime
    reason: str | None
    invalidity_date: datetime | None = None

    @property
    def effective_at(self) -> datetime:
        """From when signatures count as revoked: the invalidity date of a key compromise when it is earlier."""
        if self.reason == "key_compromise" and self.invalidity_date is not None:
            return min(self.revoked_at, self.invalidity_date)
        return self.revoked_at


@dataclass(frozen=True)
class _Source:
    name: str
    this_update: datetime
    next_update: datetime | None
    entry: Sm2StatusEntry | None


@dataclass(frozen=True)
class NationalStatus:
    """The revocation outcome for one SM2 signer certificate."""

    outcome: str
    """``good``, ``revoked`` or ``indeterminate``."""
    message: Message
    source: str | None = None
    """What decided it (``CRL 3 of CN=...``, ``trust bundle version 12``)."""


def is_sm2_crl(der: bytes) -> bool:
    """Whether ``der`` is a CRL signed with SM2-with-SM3 (so it belongs to the national seal, not to pyHanko)."""
    try:
        return bool(asn1_crl.CertificateList.load(der)["signature_algorithm"]["algorithm"].dotted == SM2_WITH_SM3)
    except Exception:
        return False


def _checked_crl(der: bytes, issuer: x509.Certificate) -> asn1_crl.CertificateList | None:
    """The CRL when it is ``issuer``'s (None when it names another issuer); :class:`Sm2CrlError` when it names
    ``issuer`` but is not signed by its key."""
    try:
        crl = asn1_crl.CertificateList.load(der)
        tbs = crl["tbs_cert_list"]
        tbs.native  # noqa: B018 - parse everything now
    except Exception as exc:
        raise Sm2CrlError(f"an SM2 CRL is unreadable ({type(exc).__name__})") from exc
    if tbs["issuer"].dump() != issuer.subject.dump() and tbs["issuer"] != issuer.subject:
        return None
    if crl["signature_algorithm"]["algorithm"].dotted != SM2_WITH_SM3:
        raise Sm2CrlError("the CRL of the SM2 seal CA is not signed with SM2-with-SM3")
    if not sm2_verify(sm2_public_key(issuer), tbs.dump(), bytes(crl["signature"].native)):
        raise Sm2CrlError(
            "a CRL naming the SM2 seal CA is not signed by its key (forged or altered CRL)",
        )
    return crl


def _crl_source(crl: asn1_crl.CertificateList, serial: int) -> _Source:
    tbs = crl["tbs_cert_list"]
    entry = None
    for revoked in tbs["revoked_certificates"]:
        if revoked["user_certificate"].native != serial:
            continue
        extensions = {ext["extn_id"].native: ext["extn_value"].native for ext in revoked["crl_entry_extensions"]}
        entry = Sm2StatusEntry(
            revoked_at=revoked["revocation_date"].native,
            reason=extensions.get("crl_reason"),
            invalidity_date=extensions.get("invalidity_date"),
        )
        break
    number = next((e["extn_value"].native for e in tbs["crl_extensions"] if e["extn_id"].native == "crl_number"), "?")
    next_update = tbs["next_update"].native
    return _Source(
        name=f"SM2 CRL {number} of {crl.issuer.human_friendly}",
        this_update=tbs["this_update"].native,
        next_update=next_update,
        entry=entry,
    )


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def national_status(
    signer: x509.Certificate,
    issuer: x509.Certificate,
    *,
    signed_at: datetime,
    proven: bool,
    at: datetime,
    crls: Sequence[bytes],
    bundle: tuple[str, datetime, datetime, Mapping[str, Sm2StatusEntry | None]] | None,
) -> NationalStatus:
    """The status of ``signer`` (issued by ``issuer``) for a national seal made at ``signed_at`` (``proven`` when a
    trusted time-stamp says so), judged at ``at`` from ``crls`` (DER, any issuer) and ``bundle`` (name, issued at,
    next update, status by certificate SHA-256; a certificate missing from it is unknown to it)."""
    sources: list[_Source] = []
    problems: list[str] = []
    for der in crls:
        try:
            crl = _checked_crl(der, issuer)
        except Sm2CrlError as exc:
            problems.append(str(exc))
            continue
        if crl is not None:
            sources.append(_crl_source(crl, signer.serial_number))
    if bundle is not None:
        name, issued_at, next_update, entries = bundle
        digest = hashlib.sha256(signer.dump()).hexdigest()
        if digest in entries:
            entry = entries[digest]
            # A scheduled revocation (a future memorandum cut-over) is not one yet at ``at``.
            sources.append(_Source(name, issued_at, next_update, entry if entry and entry.revoked_at <= at else None))
    if not sources:
        if problems:
            return NationalStatus(
                "indeterminate",
                Message(
                    "国密签章证书的吊销列表（CRL）不可信（不是 SM2 制章者签发的），无法确认证书状态",
                    f"the SM2 seal certificate's revocation status is unknown: {problems[0]}",
                ),
            )
        return NationalStatus(
            "indeterminate",
            Message(
                "缺少国密签章证书的吊销信息（离线验证）：请提供信任包、--crl（SM2 CRL）、--service 或 --online",
                "no revocation data for the national seal's SM2 certificate (offline): give a trust bundle, "
                "--crl with the SM2 CRL, --service URL or --online",
            ),
        )
    # (3)/(4) revoked
    listed = [s for s in sources if s.entry is not None]
    if listed:
        first = min(listed, key=lambda s: s.entry.effective_at if s.entry else at)
        entry = first.entry
        assert entry is not None
        reason = entry.reason or "unspecified"
        if entry.effective_at <= signed_at:
            return NationalStatus(
                "revoked",
                Message(
                    f"国密签章证书已于 {_when(entry.effective_at)} 吊销（{reason}），签章时间在其后",
                    f"the national seal's SM2 certificate was revoked on {_when(entry.effective_at)} ({reason}), "
                    f"before the seal was applied at {_when(signed_at)} ({first.name})",
                ),
                first.name,
            )
        if not proven:
            return NationalStatus(
                "indeterminate",
                Message(
                    f"国密签章证书已于 {_when(entry.effective_at)} 吊销（{reason}），且没有可信时间戳证明签章在此之前",
                    f"the national seal's SM2 certificate was revoked on {_when(entry.effective_at)} ({reason}) and "
                    "no trusted time-stamp proves the seal was applied before that",
                ),
                first.name,
            )
        return NationalStatus(
            "good",
            Message(
                f"国密签章早于证书吊销（{_when(entry.effective_at)}，{reason}），有时间戳证明",
                f"the national seal was applied before its SM2 certificate was revoked on "
                f"{_when(entry.effective_at)} ({reason}); a time-stamp proves it",
            ),
            first.name,
        )
    # (5) not listed: a source issued after the seal, or one still current
    fresh = [s for s in sources if s.this_update >= signed_at or (s.next_update is not None and at < s.next_update)]
    if fresh:
        return NationalStatus(
            "good",
            Message("国密签章证书未被吊销", f"the SM2 seal certificate is not revoked ({fresh[0].name})"),
            fresh[0].name,
        )
    newest = max(sources, key=lambda s: s.this_update)
    expired = _when(newest.next_update) if newest.next_update else "?"
    return NationalStatus(
        "indeterminate",
        Message(
            f"国密签章证书的吊销列表已过期（{expired} 到期，早于签章时间签发），无法确认证书状态",
            f"the SM2 revocation data is stale: {newest.name} was issued on {_when(newest.this_update)}, before "
            f"the seal, and expired on {expired}",
        ),
        newest.name,
    )


def crl_urls(cert: x509.Certificate) -> list[str]:
    """The http(s) CRL distribution points of ``cert``."""
    urls = []
    for dp in cert.crl_distribution_points or ():
        name = dp["distribution_point"]
        if name.name == "full_name":
            urls += [g.native for g in name.chosen if g.name == "uniform_resource_identifier"]
    return [u for u in urls if u.startswith(("http://", "https://"))]


def fetch_sm2_crls(signer: x509.Certificate, *, service_url: str | None, online: bool, timeout: float) -> list[bytes]:
    """SM2 CRLs for ``signer`` fetched as the caller allows (see the module docstring, (1)); unreachable
    addresses are skipped (the status then says no data was found)."""
    from verifier.ltv import _get, _on_service

    urls = crl_urls(signer)
    targets: list[str] = []
    if service_url:
        targets += [_on_service(u, service_url) for u in urls] or [service_url.rstrip("/") + SM2_CRL_PATH]
    if online:
        targets += urls
    found = []
    for url in dict.fromkeys(targets):
        try:
            found.append(_get(url, timeout))
        except Exception:  # noqa: S112 - an unreachable address is no data; the status says so
            continue
    return found
