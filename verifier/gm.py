"""Verification of national seals (国密电子签章): GB/T 38540 v4 SES_Signature in a PDF signature field.

A national seal is a signature dictionary with ``/SubFilter /GB.T38540.SES.v4`` whose ``/Contents`` is
DER(SES_Signature) and whose ``/ByteRange`` covers its whole revision except ``/Contents``. It is valid when:

1. the structures parse completely (version 4, header ``ES``/4) and the algorithms are SM2-with-SM3;
2. ``dataHash`` is the SM3 of the bytes the ByteRange covers (else the document was altered);
3. the SM2 signature over DER(TBS_Sign) verifies with the signer certificate and the user id 1234567812345678
   (else the signature data was altered, or it was made with another user id);
4. the signer certificate is in the seal data's certificate list;
5. the signing time lies in the seal data's validity and in the signer certificate's validity;
6. the seal maker's signature over DER(SES_SealInfo) verifies (else the seal data, e.g. its picture, was
   altered) and the seal maker's certificate is a trusted SM2 root or issued by one;
7. the signer certificate was issued by the seal maker's CA or a trusted SM2 root;
8. an RFC 3161 time-stamp, when present, is over the SHA-256 of the signature value, its CMS signature verifies
   and its TSA certificate is a time-stamping certificate issued by a trusted (P-256) root, valid then and now
   (the PAdES verifier's own token check, :func:`verifier._fastpath.check_time_stamp_token`); its time is then the
   proven signing time. A forged or altered token makes the national seal invalid, one from a TSA outside
   the trust roots indeterminate (no chain to a trust anchor). Once the TSA
   certificate has expired, the token is validated at the time the PAdES seal proves the national seal's revision
   existed (past validation with a proof of existence, :mod:`verifier.gm_existence`); without that proof it is
   indeterminate (it can no longer be checked);
9. the signer's SM2 certificate is not revoked at the signing time (:mod:`verifier.gm_revocation`): SM2 CRLs,
   the trust bundle, or fetched with ``--service``/``--online``; without any: indeterminate, never valid.

Example::

    >>> results = verify_national_seals(pdf_bytes, sm2_roots=[root_der])      # doctest: +SKIP
    >>> results[0].valid, results[0].reason                                  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any, NoReturn

from asn1crypto import x509

from verifier.gm_existence import ExistenceProof, tsa_status_at
from verifier.gm_revocation import NationalStatus, Sm2StatusEntry, fetch_sm2_crls, national_status
from verifier.gm_structures import (
    DEFAULT_USER_ID,
    SES_ID,
    SES_VERSION,
    SM2_WITH_SM3,
    SESeal,
    SesSignature,
    certificate_signed_by,
    sm2_public_key,
    sm2_verify,
    sm3,
)
from verifier.report import Indication, Message, SubIndication, Verdict, VerificationReport

#: The SubFilter of national seals in PDFs (docs/gm-crypto.md).
GM_SUBFILTER = "/GB.T38540.SES.v4"


@dataclass(frozen=True)
class NationalSealResult:
    """The outcome for one national seal (国密电子签章) in a document."""

    field_name: str
    valid: bool
    reason: Message
    """Why it is (in)valid, for people."""
    seal_name: str | None = None
    es_id: str | None = None
    signed_at: datetime | None = None
    time_stamped: bool = False
    trust_checked: bool = True
    """False when no SM2 root was given: integrity and signatures were checked, the seal maker's trust and the
    certificate's revocation were not."""
    indeterminate: bool = False
    """True when the seal is intact but could not be judged (no or stale revocation data, revoked without proof
    of time); ``valid`` is then False."""
    time_stamp_at: datetime | None = None
    """The time the trusted time-stamp proves (the proven signing time), None without a checked time-stamp."""
    revocation: str | None = None
    """The signer certificate's status: ``good``, ``revoked``, ``indeterminate``, or None (not checked)."""
    validated_at: datetime | None = None
    """When the time-stamp was validated, if not at the validation time: its TSA certificate had expired, and the
    PAdES seal proves the national seal existed at this time (past validation, :mod:`verifier.gm_existence`)."""

    @property
    def status(self) -> str:
        """``valid``, ``invalid`` or ``indeterminate``."""
        return "valid" if self.valid else "indeterminate" if self.indeterminate else "invalid"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "kind": "gm",
            "field": self.field_name,
            "valid": self.valid,
            "status": self.status,
            "time_stamp_at": self.time_stamp_at.isoformat() if self.time_stamp_at is not None else None,
            "revocation": self.revocation,
            "validated_at": self.validated_at.isoformat() if self.validated_at is not None else None,
            "reason": str(self.reason),
            "seal_name": self.seal_name,
            "es_id": self.es_id,
            "signed_at": self.signed_at.isoformat() if self.signed_at is not None else None,
            "time_stamped": self.time_stamped,
            "trust_checked": self.trust_checked,
        }


class _Invalid(Exception):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.message = Message(zh, en)


class _Indeterminate(_Invalid):
    pass


@dataclass(frozen=True)
class NationalContext:
    """What national seals are judged with besides the SM2 roots (all optional; default offline, nothing)."""

    trust_roots: tuple[bytes, ...] = ()
    """The (P-256) trust roots, DER: the time-stamp's TSA certificate must be issued by one."""
    crls: tuple[bytes, ...] = ()
    """SM2 CRLs (DER) the caller gives (``seal-verify --crl``)."""
    bundle: tuple[str, datetime, datetime, Mapping[str, Sm2StatusEntry | None]] | None = None
    """A checked trust bundle's SM2 status entries: (name, issued at, next update, status by certificate SHA-256)."""
    service_url: str | None = None
    """Fetch SM2 CRLs from this service (``--service``)."""
    online: bool = False
    """Fetch SM2 CRLs from the certificates' distribution points (``--online``)."""
    timeout: float = 10.0


@dataclass(frozen=True)
class _Found:
    field_name: str
    byte_range: tuple[int, ...]
    contents: bytes


@dataclass(frozen=True)
class _Fields:
    found: list[_Found]
    reader: Any
    """pyHanko's reader of the file (the DSS and document time-stamps, for past validation)."""
    pades_covers: int | None
    """Where the first PAdES seal's /Contents begins: it signs every byte before (None without a PAdES seal)."""


def _national_fields(data: bytes) -> _Fields:
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    reader = PdfFileReader(BytesIO(data), strict=False)
    found = []
    pades: list[tuple[int, ...]] = []
    for name, value, _field in enumerate_sig_fields(reader, filled_status=True):
        sig = value.get_object()
        byte_range = tuple(int(v) for v in sig.get("/ByteRange", ()))
        if sig.get("/SubFilter") != GM_SUBFILTER:
            if sig.get("/Type") != "/DocTimeStamp" and len(byte_range) == 4:
                pades.append(byte_range)
            continue
        found.append(_Found(str(name), byte_range, bytes(sig.get("/Contents", b""))))
    first = min(pades, key=lambda br: br[2] + br[3]) if pades else None
    return _Fields(found, reader, first[1] if first is not None else None)


def has_national_seal(data: bytes) -> bool:
    """Whether the PDF ``data`` carries a national seal (a signature with the GB/T 38540 SubFilter)."""
    return GM_SUBFILTER.encode() in data and bool(_national_fields(data).found)


def _signed_bytes(data: bytes, byte_range: tuple[int, ...]) -> bytes:
    if len(byte_range) != 4 or byte_range[0] != 0:
        raise _Invalid("国密签章的字节范围（ByteRange）不正确", "the national seal's ByteRange is not sound")
    _, first, start, length = byte_range
    end = start + length
    if not (0 < first < start <= end <= len(data)) or data[first : first + 1] != b"<" or data[start - 1] != ord(">"):
        raise _Invalid(
            "国密签章的字节范围（ByteRange）不正确或文件被截断",
            "the national seal's ByteRange does not leave out exactly its /Contents, or the file was cut short",
        )
    if not data[:end].rstrip().endswith(b"%%EOF"):
        raise _Invalid("国密签章未覆盖完整的修订版本", "the national seal does not cover a whole revision")
    return data[:first] + data[start:end]


def _load(contents: bytes) -> SesSignature:
    try:
        signature: SesSignature = SesSignature.load(contents, strict=False)
        signature.native  # parse everything now: truncated structures fail here  # noqa: B018
        if len(signature.dump()) > len(contents):
            raise ValueError("longer than /Contents")
        return signature
    except Exception as exc:
        raise _Invalid(
            "国密电子签章数据（SES_Signature）被截断或格式错误",
            f"the national seal's SES_Signature is truncated or malformed ({type(exc).__name__})",
        ) from exc


def _certificate(der: bytes, what: str) -> x509.Certificate:
    try:
        cert = x509.Certificate.load(der)
        sm2_public_key(cert)
        cert.native  # noqa: B018
        return cert
    except Exception as exc:
        raise _Invalid(
            f"国密签章中的{what}证书无法读取", f"the national seal's {what} certificate is unreadable"
        ) from exc


def _validity(cert: x509.Certificate) -> tuple[datetime, datetime]:
    validity = cert["tbs_certificate"]["validity"]
    return validity["not_before"].native, validity["not_after"].native


def _check(
    found: _Found,
    data: bytes,
    roots: Sequence[x509.Certificate] | None,
    context: NationalContext,
    at: datetime,
    past: _Past | None = None,
) -> NationalSealResult:
    signed = _signed_bytes(data, found.byte_range)
    signature = _load(found.contents)
    tbs = signature["to_sign"]
    seal: SESeal = tbs["eseal"]
    info = seal["eseal_info"]
    header = info["header"]
    prop = info["property"]
    facts: dict[str, Any] = {
        "seal_name": prop["name"].native,
        "es_id": info["es_id"].native,
        "signed_at": tbs["time_info"].native,
        "time_stamped": signature["time_stamp"].native is not None,
        "trust_checked": roots is not None,
    }
    try:
        if tbs["version"].native != SES_VERSION or header["id"].native != SES_ID or header["version"].native != 4:
            raise _Invalid("国密签章不是 GB/T 38540 第 4 版数据", "the national seal is not GB/T 38540 version 4 data")
        if signature["signature_alg_id"].dotted != SM2_WITH_SM3 or seal["sign_alg_id"].dotted != SM2_WITH_SM3:
            raise _Invalid("国密签章的签名算法不是 SM2/SM3", "the national seal's algorithm is not SM2-with-SM3")
        # (2) the document
        if bytes(tbs["data_hash"].native) != sm3(signed):
            raise _Invalid(
                "国密签章之后文件内容被改动（SM3 杂凑值不符）",
                "the document bytes were altered after the national seal (its SM3 dataHash does not match)",
            )
        # (3) the signer's signature
        signer = _certificate(signature["cert"].native, "签章者")
        if not sm2_verify(sm2_public_key(signer), tbs.dump(), bytes(signature["signature"].native)):
            raise _Invalid(
                "国密签章的 SM2 签名验证失败（签章数据被改动，或未使用用户标识 1234567812345678）",
                "the SM2 signature over TBS_Sign does not verify: the signature data was altered, or it was made "
                f"with a user id other than {DEFAULT_USER_ID.decode()}",
            )
        # (4) the signer may use this seal
        if prop["cert_list_type"].native != 1 or signer.dump() not in [c.native for c in prop["cert_list"]]:
            raise _Invalid(
                "签章者证书不在印章数据的证书列表中（无权使用该印章）",
                "the signer's certificate is not in the seal data's certificate list (not allowed to use this seal)",
            )
        # (5) time
        signed_at: datetime = facts["signed_at"]
        if not (prop["valid_start"].native <= signed_at <= prop["valid_end"].native):
            raise _Invalid(
                "签章时印章数据不在有效期内",
                "the seal data was outside its validity when the national seal was applied",
            )
        start, end = _validity(signer)
        if not (start <= signed_at <= end):
            raise _Invalid("签章时签章者证书不在有效期内", "the signer's SM2 certificate was not valid at signing time")
        # (6) the seal maker
        maker = _certificate(seal["cert"].native, "制章者")
        if not sm2_verify(sm2_public_key(maker), info.dump(), bytes(seal["signed_value"].native)):
            raise _Invalid(
                "印章数据被改动（如印章图片被替换）：制章者签名验证失败",
                "the seal data (for example its picture) was altered: the seal maker's signature does not verify",
            )
        trusted_maker = roots is None or any(maker.dump() == r.dump() or certificate_signed_by(maker, r) for r in roots)
        if not trusted_maker:
            raise _Invalid("印章数据不是由受信任的制章者签发的", "the seal data was not signed by a trusted seal maker")
        # (7) the signer's certificate chain
        if not any(certificate_signed_by(signer, issuer) for issuer in (maker, *(roots or ()))):
            raise _Invalid(
                "签章者证书不是由受信任的 SM2 证书机构签发的",
                "the signer's SM2 certificate was not issued by a trusted SM2 authority",
            )
        # (8) time-stamp over the signature value: its time is the proven signing time
        proven_at: datetime | None = None
        past_note: Message | None = None
        if facts["time_stamped"]:
            covered = past if past is not None and past.proof.covers_range(found.byte_range) else None
            proven_at, validated_at, past_note = _check_time_stamp(
                bytes(signature["time_stamp"].native), bytes(signature["signature"].native), context, at, covered
            )
            facts["validated_at"] = validated_at
            if proven_at is not None and proven_at < signed_at - _CLAIM_SKEW:
                raise _Invalid(
                    "国密签章的时间戳早于其声明的签章时间",
                    f"the national seal's time-stamp ({proven_at.isoformat()}) is earlier than the signing time it "
                    f"claims ({signed_at.isoformat()})",
                )
        facts["time_stamp_at"] = proven_at
        # (9) revocation of the signer's certificate (only where trust is checked: with the SM2 roots)
        status: NationalStatus | None = None
        if roots is not None:
            issuer = next((c for c in (maker, *roots) if certificate_signed_by(signer, c)), maker)
            crls = context.crls
            if context.service_url or context.online:
                crls = (
                    *crls,
                    *fetch_sm2_crls(
                        signer, service_url=context.service_url, online=context.online, timeout=context.timeout
                    ),
                )
            status = national_status(
                signer,
                issuer,
                signed_at=proven_at or signed_at,
                proven=proven_at is not None,
                at=at,
                crls=crls,
                bundle=context.bundle,
            )
            facts["revocation"] = status.outcome
            if status.outcome == "revoked":
                raise _Invalid(status.message.zh, status.message.en)
            if status.outcome == "indeterminate":
                raise _Indeterminate(status.message.zh, status.message.en)
    except _Indeterminate as unknown:
        return NationalSealResult(found.field_name, False, unknown.message, indeterminate=True, **facts)
    except _Invalid as invalid:
        return NationalSealResult(found.field_name, False, invalid.message, **facts)
    if roots is None:
        reason = Message(
            f"国密电子签章完整：{facts['seal_name']}（未提供 SM2 根证书，未检查制章者信任和证书吊销状态）",
            f"National seal intact: {facts['seal_name']} (no SM2 root given: the seal maker's trust and the "
            "certificate's revocation were not checked)",
        )
    else:
        stamped = facts["time_stamp_at"]
        proof = f"；时间戳证明签章时间 {stamped.isoformat(timespec='seconds')}" if stamped else ""
        proof_en = f"; a time-stamp proves {stamped.isoformat(timespec='seconds')}" if stamped else ""
        if past_note is not None:
            proof, proof_en = f"{proof}；{past_note.zh}", f"{proof_en}; {past_note.en}"
        assert status is not None
        reason = Message(
            f"国密电子签章有效：{facts['seal_name']}（SM2/SM3，GB/T 38540；{status.message.zh}{proof}）",
            f"National seal valid: {facts['seal_name']} (SM2/SM3, GB/T 38540; {status.message.en}{proof_en})",
        )
    return NationalSealResult(found.field_name, True, reason, **facts)


#: How much earlier than the claimed signing time a time-stamp may be (clock skew between signer and TSA).
_CLAIM_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class _Past:
    """What past validation of a national seal's time-stamp needs: the proof of existence and the file's reader."""

    proof: ExistenceProof
    reader: Any


def _check_time_stamp(
    token_der: bytes, signature_value: bytes, context: NationalContext, at: datetime, past: _Past | None = None
) -> tuple[datetime | None, datetime | None, Message | None]:
    """The time the token proves, after the PAdES verifier's token checks (None when no trust root was given to
    check it against: then nothing is proven), the time it was validated at when that is not ``at`` (past
    validation, its TSA certificate having expired; ``past`` covers this national seal), and a note on that for
    people. :class:`_Invalid` naming what is wrong otherwise."""
    from verifier import _cms
    from verifier._fastpath import FastPathRefused, check_time_stamp_token

    try:
        signed_data = _cms.signed_data(token_der)
        tst = _cms.tst_info(signed_data.content or b"")
    except Exception:
        raise _Invalid(
            "国密签章的时间戳无法读取（格式错误）", "the national seal's time-stamp token is malformed"
        ) from None
    if tst.imprint != hashlib.sha256(signature_value).digest():
        raise _Invalid(
            "国密签章的时间戳不是针对其签名值的", "the national seal's time-stamp is not over its signature value"
        )
    if not context.trust_roots:
        return None, None, None
    try:
        return check_time_stamp_token(signed_data, tst.imprint, context.trust_roots, at), None, None
    except FastPathRefused as refused:
        text = str(refused)
        if "outside its validity" in text:
            try:  # valid when it was made, expired since: it can no longer be checked (not: it is false)
                made = check_time_stamp_token(signed_data, tst.imprint, context.trust_roots, tst.gen_time)
            except FastPathRefused:
                made = None
            if made is not None and past is not None:
                return _validated_in_the_past(signed_data, tst.imprint, tst.gen_time, context, past)
            if made is not None:
                raise _Indeterminate(
                    "国密签章的时间戳已无法验证（时间戳证书已过期），且没有可信的 PAdES 印章或文档时间戳"
                    "证明国密签章在此之前已存在（证照未在时间戳到期前续期）",
                    f"the national seal's time-stamp can no longer be checked: its TSA certificate is outside its "
                    f"validity at {at.isoformat(timespec='seconds')} (it was valid at {made.isoformat()}), and no "
                    "valid PAdES seal or document time-stamp proves the national seal existed before that (the "
                    "licence was not renewed before its time-stamp expired)",
                ) from None
        _refused(text)


def _refused(text: str) -> NoReturn:
    """Raise :class:`_Invalid` for a national time-stamp the token check refused (``text`` says why)."""
    if "trust root" in text:
        # No chain to a trust anchor: ETSI EN 319 102-1 NO_CERTIFICATE_CHAIN_FOUND, indeterminate (as for the PAdES
        # seal): the verifier cannot tell a foreign TSA from one whose root it was not given.
        raise _Indeterminate(
            "国密签章的时间戳不是由受信任的时间戳服务签发的",
            f"the national seal's time-stamp is from an untrusted TSA ({text})",
        ) from None
    if "does not verify" in text or "does not match" in text:
        raise _Invalid(
            "国密签章的时间戳被伪造或改动（时间戳签名验证失败）",
            f"the national seal's time-stamp was forged or altered: its TSA signature does not verify ({text})",
        ) from None
    raise _Invalid("国密签章的时间戳无效", f"the national seal's time-stamp is not valid ({text})") from None


def _validated_in_the_past(
    signed_data: Any, imprint: bytes, gen_time: datetime, context: NationalContext, past: _Past
) -> tuple[datetime, datetime, Message]:
    """(8) past validation: the token checked at the time the PAdES seal proves the national seal existed
    (:mod:`verifier.gm_existence`, points 2 and 3)."""
    from verifier._fastpath import FastPathRefused, checked_time_stamp_token

    proven = past.proof.at
    when = proven.isoformat(timespec="seconds")
    if gen_time > proven:
        raise _Invalid(
            "国密签章的时间戳晚于 PAdES 印章证明其存在的时间（时间戳时间不可信）",
            f"the national seal's time-stamp claims {gen_time.isoformat()}, later than the time the PAdES seal "
            f"proves the national seal existed ({when})",
        )
    try:
        made, tsa_der, issuer_der = checked_time_stamp_token(signed_data, imprint, context.trust_roots, proven)
    except FastPathRefused as refused:
        if "outside its validity" in str(refused):
            raise _Indeterminate(
                "国密签章的时间戳服务证书在其被证明存在时已不在有效期内",
                f"the national seal's time-stamp cannot be checked: its TSA certificate was outside its validity "
                f"at {when}, when the PAdES seal proves the national seal existed",
            ) from None
        _refused(str(refused))
    status = tsa_status_at(past.reader, tsa_der=tsa_der, issuer_der=issuer_der, at=proven)
    if status.outcome == "revoked":
        raise _Invalid(status.message.zh, status.message.en)
    if status.outcome != "good":
        raise _Indeterminate(
            f"国密签章的时间戳已无法验证（时间戳证书已过期）：{status.message.zh}",
            f"the national seal's time-stamp can no longer be checked (its TSA certificate expired): "
            f"{status.message.en}",
        )
    note = Message(
        f"时间戳证书已过期，按 PAdES 印章证明的存在时间 {when} 验证：{status.message.zh}",
        f"its TSA certificate has expired since; validated at {when}, when the PAdES seal proves the national seal "
        f"existed: {status.message.en}",
    )
    return made, proven, note


def verify_national_seals(
    data: bytes,
    *,
    sm2_roots: Sequence[bytes],
    at: datetime | None = None,
    context: NationalContext | None = None,
    pades_proven_at: datetime | None = None,
) -> tuple[NationalSealResult, ...]:
    """Check every national seal in the PDF ``data`` against the trusted SM2 roots (DER); never raises for a
    bad document. A national seal is judged at its own signing time (the seal data's and the certificates'
    validity then); ``at`` (default now) is the validation time for the time-stamp's TSA certificate and the
    currency of revocation data. With no ``sm2_roots`` everything but the seal maker's trust and the revocation
    status is checked (``trust_checked`` is then False). ``context`` gives the (P-256) roots the time-stamp is
    checked against and the revocation sources (:class:`NationalContext`).

    ``pades_proven_at``: the signing time the PAdES validation proved for the file's first PAdES seal, given only
    when that seal is valid. It is a proof of existence of every national seal the PAdES seal signs, and a
    national time-stamp whose TSA certificate has expired by ``at`` is validated at that time instead
    (:mod:`verifier.gm_existence`)."""
    at = at or datetime.now(UTC)
    context = context or NationalContext()
    roots = [x509.Certificate.load(der) for der in sm2_roots] if sm2_roots else None
    try:
        fields = _national_fields(data)
    except Exception as exc:  # the file names a national seal, but its fields cannot be read: say so, never skip
        unreadable = Message(
            "国密签章无法读取（PDF 结构损坏）", f"the national seal cannot be read ({type(exc).__name__})"
        )
        return (NationalSealResult("?", False, unreadable),)
    past = None
    if pades_proven_at is not None and fields.pades_covers is not None:
        past = _Past(ExistenceProof(at=pades_proven_at, covers=fields.pades_covers), fields.reader)
    results = []
    for item in fields.found:
        try:
            results.append(_check(item, data, roots, context, at, past))
        except _Invalid as invalid:
            results.append(NationalSealResult(item.field_name, False, invalid.message))
        except Exception as exc:  # never a traceback for a hostile file
            results.append(
                NationalSealResult(
                    item.field_name,
                    False,
                    Message("国密签章无法验证", f"the national seal cannot be checked ({type(exc).__name__})"),
                )
            )
    return tuple(results)


def national_seal_time(result: NationalSealResult) -> datetime | None:
    """The signing time the national seal claims, in UTC."""
    return result.signed_at.astimezone(UTC) if result.signed_at is not None else None


def with_national_seals(
    report: VerificationReport,
    data: bytes,
    *,
    sm2_roots: Sequence[bytes],
    require: bool = False,
    at: datetime | None = None,
    context: NationalContext | None = None,
) -> VerificationReport:
    """``report`` (the PAdES verdict) with the national seals of ``data`` checked and reported.

    The document is valid only when every seal on it is valid: an invalid national seal makes it invalid, an
    indeterminate one (no revocation data, say) makes a valid document indeterminate; with ``require`` a
    document without a national seal is invalid too.
    """
    # A valid PAdES seal with a proof of time proves the national seal it signs existed then (past validation).
    proven = report.proven_signing_time if report.verdict is Verdict.VALID else None
    results = (
        verify_national_seals(data, sm2_roots=sm2_roots, at=at, context=context, pades_proven_at=proven)
        if GM_SUBFILTER.encode() in data
        else ()
    )
    if results:
        report = dataclasses.replace(report, pades_verdict=report.verdict)
    failed = [r for r in results if not r.valid and not r.indeterminate]
    unknown = [r for r in results if r.indeterminate]
    if not failed and unknown:
        first = unknown[0]
        detail = f"national seal {first.field_name}: {first.reason.en}"
        if report.verdict is Verdict.VALID:
            subindication = (
                SubIndication.REVOKED_NO_POE.value
                if first.revocation == "indeterminate" and "revoked" in first.reason.en
                else SubIndication.TRY_LATER.value
            )
            return dataclasses.replace(
                report,
                verdict=Verdict.INDETERMINATE,
                indication=Indication.INDETERMINATE,
                subindication=subindication,
                messages=(first.reason,),
                details=(*report.details, detail),
                national_seals=results,
            )
        return dataclasses.replace(
            report,
            messages=(*report.messages, first.reason),
            details=(*report.details, detail),
            national_seals=results,
        )
    if failed:
        first = failed[0]
        if report.verdict in (Verdict.VALID, Verdict.INDETERMINATE):
            # The national seal's failure is the news; an indeterminate PAdES finding follows it.
            return dataclasses.replace(
                report,
                verdict=Verdict.INVALID,
                indication=Indication.TOTAL_FAILED,
                subindication=(
                    SubIndication.REVOKED.value
                    if first.revocation == "revoked"
                    else SubIndication.SIG_CRYPTO_FAILURE.value
                    if report.verdict is Verdict.VALID
                    else report.subindication
                ),
                messages=(first.reason, *(m for m in report.messages if report.verdict is not Verdict.VALID)),
                details=(*report.details, f"national seal {first.field_name}: {first.reason.en}"),
                national_seals=results,
            )
        # The PAdES seal failed already (invalid or modified): its finding stays first, the national seal's follows.
        return dataclasses.replace(
            report,
            messages=(*report.messages, first.reason),
            details=(*report.details, f"national seal {first.field_name}: {first.reason.en}"),
            national_seals=results,
        )
    if not results and require:
        return dataclasses.replace(
            report,
            verdict=Verdict.INVALID if report.verdict is Verdict.VALID else report.verdict,
            indication=Indication.TOTAL_FAILED if report.verdict is Verdict.VALID else report.indication,
            subindication=report.subindication or SubIndication.FORMAT_FAILURE.value,
            messages=(
                Message(
                    "文件没有国密电子签章，而验证策略要求有",
                    "the policy requires a national seal (国密), the document has none",
                ),
                *report.messages,
            ),
        )
    if not results:
        return report
    messages = (
        report.messages + tuple(r.reason for r in results) if report.verdict is Verdict.VALID else report.messages
    )
    return dataclasses.replace(report, messages=messages, national_seals=results)
