"""The fast path's strict DER reader (verifier/_cms.py) reads what asn1crypto reads, and never accepts more.

On the real CMS of our licences (the seal, its signature time-stamp token, the document time-stamp; P-256 and
RSA-3072) both readings agree field by field. On 1,800 mutated copies, whenever ours accepts, asn1crypto
accepts too and reads the same; and the encodings outside strict DER are refused.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import parser as asn1_parser
from asn1crypto import tsp as asn1_tsp
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.verifier.conftest import Sealed
from tests.verifier.test_fast_path import rsa, seal  # noqa: F401  # the module-scoped RSA-3072 instance
from verifier import _cms

_SIGNATURE_TST = "1.2.840.113549.1.9.16.2.14"


def _cms_of(pdf: bytes) -> list[bytes]:
    """The ContentInfo DER of every signature in ``pdf`` and of every signature time-stamp token in them."""
    found = []
    for sig in PdfFileReader(BytesIO(pdf)).embedded_signatures:
        found.append(bytes(sig.pkcs7_content))
        for attr in _cms.signed_data(sig.pkcs7_content).signer_infos[0].unsigned_attrs or ():
            if attr.oid == _SIGNATURE_TST:
                found.append(attr.values[0])
    return found


def _algorithm(alg: Any) -> _cms.Algorithm:
    return _cms.Algorithm(alg["algorithm"].dotted, alg["parameters"].native is None)


class _OpaqueValues(asn1_core.SetOf):  # type: ignore[misc]
    _child_spec = asn1_core.Any


class _OpaqueAttribute(asn1_core.Sequence):  # type: ignore[misc]
    _fields = [("type", asn1_core.ObjectIdentifier), ("values", _OpaqueValues)]  # noqa: RUF012  # asn1crypto's API


class _OpaqueEncapsulated(asn1_core.Sequence):  # type: ignore[misc]
    """EncapsulatedContentInfo with its content as plain octets (_cms leaves the TSTInfo to ``tst_info``)."""

    _fields = [  # noqa: RUF012  # asn1crypto's API
        ("content_type", asn1_core.ObjectIdentifier),
        ("content", asn1_core.OctetString, {"explicit": 0, "optional": True}),
    ]


class _OpaqueAttributes(asn1_core.SetOf):  # type: ignore[misc]
    _child_spec = _OpaqueAttribute


def _attributes(attrs: Any) -> tuple[_cms.Attribute, ...] | None:
    """The attributes with their values as bytes: _cms leaves values to the fast path's own checks (each value
    it accepts is then read strictly: an OID, an OCTET STRING, a token, or a byte-exact ESS value seen before)."""
    if isinstance(attrs, asn1_core.Void):
        return None
    opaque = _OpaqueAttributes.load(b"\x31" + attrs.dump()[1:])
    return tuple(_cms.Attribute(a["type"].dotted, _tlvs(a["values"].contents)) for a in opaque)


def _tlvs(contents: bytes) -> tuple[bytes, ...]:
    """The values in the contents of a SET OF, split by asn1crypto's parser (the values themselves unread)."""
    found, at = [], 0
    while at < len(contents):
        length = asn1_parser.peek(contents[at:])
        found.append(contents[at : at + length])
        at += length
    return tuple(found)


def _asn1crypto_reading(der: bytes) -> _cms.SignedData:
    """asn1crypto's reading of a ContentInfo, in _cms's terms (dumps taken before anything else is read)."""
    content_info = asn1_cms.ContentInfo.load(der)
    if content_info["content_type"].dotted != _cms.ID_SIGNED_DATA:
        raise ValueError("not signed data")
    signed = content_info["content"]
    infos = []
    for info in signed["signer_infos"]:
        signed_attrs_der = None if isinstance(info["signed_attrs"], asn1_core.Void) else info["signed_attrs"].dump()
        sid = info["sid"]
        by_name = sid.name == "issuer_and_serial_number"
        infos.append(
            _cms.SignerInfo(
                sid_issuer=sid.chosen["issuer"].dump() if by_name else None,
                sid_serial=sid.chosen["serial_number"].native if by_name else None,
                digest_algorithm=_algorithm(info["digest_algorithm"]),
                signed_attrs_der=signed_attrs_der,
                signed_attrs=_attributes(info["signed_attrs"]),
                signature_algorithm=_algorithm(info["signature_algorithm"]),
                signature=info["signature"].native,
                unsigned_attrs=_attributes(info["unsigned_attrs"]),
            )
        )
    encap = _OpaqueEncapsulated.load(signed["encap_content_info"].dump())
    choices = list(signed["certificates"] or ())
    if any(c.name != "certificate" for c in choices):
        raise ValueError("a certificate of another kind")  # _cms refuses them (so does the fast path)
    return _cms.SignedData(
        digest_algorithms=tuple(_algorithm(alg) for alg in signed["digest_algorithms"]),
        content_type=encap["content_type"].dotted,
        content=None if isinstance(encap["content"], asn1_core.Void) else encap["content"].native,
        certificates=tuple(c.chosen.dump() for c in choices),
        crls_present=not isinstance(signed["crls"], asn1_core.Void),
        signer_infos=tuple(infos),
    )


def _asn1crypto_tst(der: bytes) -> _cms.TstInfo:
    tst = asn1_tsp.TSTInfo.load(der)
    imprint = tst["message_imprint"]
    return _cms.TstInfo(
        version=int(tst["version"]),
        imprint_algorithm=_algorithm(imprint["hash_algorithm"]),
        imprint=imprint["hashed_message"].native,
        gen_time=tst["gen_time"].native,
        extensions_present=not isinstance(tst["extensions"], asn1_core.Void),
    )


@pytest.fixture(scope="module")
def real_cms(sealed: Sealed) -> list[bytes]:
    found = [der for pdf in (sealed.b_lta, sealed.b_lt, sealed.b_b) for der in _cms_of(pdf)]
    assert len(found) == 6  # B-LTA: seal, its token, document time-stamp; B-LT: seal and token; B-B: seal
    return found


def test_real_cms_reads_as_asn1crypto_reads_it(real_cms: list[bytes]) -> None:
    for der in real_cms:
        ours = _cms.signed_data(der)
        assert ours == _asn1crypto_reading(der)
        if ours.content is not None:
            assert _cms.tst_info(ours.content) == _asn1crypto_tst(ours.content)


def test_rsa_cms_reads_as_asn1crypto_reads_it(rsa: tuple[Any, Any]) -> None:  # noqa: F811
    found = _cms_of(seal(rsa[0]))
    assert any(
        _cms.signed_data(der).signer_infos[0].signature_algorithm.oid.startswith("1.2.840.113549.1.1.") for der in found
    )
    for der in found:
        assert _cms.signed_data(der) == _asn1crypto_reading(der)


def _mutate(der: bytes, rng: random.Random) -> bytes:
    data = bytearray(der)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data))
        kind = rng.random()
        if kind < 0.5:
            data[at] = rng.randrange(256)
        elif kind < 0.7:
            data[at] ^= 1 << rng.randrange(8)
        elif kind < 0.85:
            data.insert(at, rng.randrange(256))
        else:
            del data[at]
    return bytes(data)


def _never_looser(read: Callable[[bytes], Any], reference: Callable[[bytes], Any], der: bytes) -> bool:
    """If ``read`` accepts ``der``, ``reference`` reads the same; True when ours accepted."""
    try:
        ours = read(der)
    except _cms.DerError:
        return False
    assert ours == reference(der), der.hex()
    return True


def test_mutated_cms_is_refused_or_read_as_asn1crypto_reads_it(real_cms: list[bytes]) -> None:
    rng = random.Random(1128)  # noqa: S311  # reproducible mutations, not secrets
    accepted = refused = 0
    for der in real_cms:
        # Mutations in the first bytes hit the structure; elsewhere they mostly hit certificates and signatures.
        for _ in range(150):
            mutated = _mutate(der[:400], rng) + der[400:] if rng.random() < 0.6 else _mutate(der, rng)
            if _never_looser(_cms.signed_data, _asn1crypto_reading, mutated):
                accepted += 1
            else:
                refused += 1
    assert accepted > 100 and refused > 100, (accepted, refused)


def test_mutated_tst_info_is_refused_or_read_as_asn1crypto_reads_it(real_cms: list[bytes]) -> None:
    rng = random.Random(2811)  # noqa: S311  # reproducible mutations, not secrets
    tokens = [content for der in real_cms if (content := _cms.signed_data(der).content) is not None]
    accepted = refused = 0
    for tst in tokens:
        for _ in range(300):
            if _never_looser(_cms.tst_info, _asn1crypto_tst, _mutate(tst, rng)):
                accepted += 1
            else:
                refused += 1
    assert accepted > 50 and refused > 50, (accepted, refused)


def _gen_time_der(text: bytes) -> bytes:
    return bytes([0x18, len(text)]) + text


@pytest.mark.parametrize(
    "text",
    [b"20261128104100Z", b"20261128104100.5Z", b"20261128104100.123456Z", b"20240229235959.1Z", b"19991231000000Z"],
)
def test_gen_time_reads_as_asn1crypto_reads_it(text: bytes) -> None:
    ours = _cms._gen_time(_gen_time_der(text), _cms._read(_gen_time_der(text), 0, len(text) + 2))
    assert ours == asn1_core.GeneralizedTime.load(_gen_time_der(text)).native
    assert ours.tzinfo is not None


@pytest.mark.parametrize(
    "text",
    [
        b"20261128104100",  # local time: no zone
        b"20261128104100+0800",  # an offset: not DER
        b"20261128104100.50Z",  # a trailing zero in the fraction: not DER
        b"20261128104100.Z",
        b"20261128104100.1234567Z",  # finer than a microsecond
        b"202611281041Z",  # no seconds
        b"20261131104100Z",  # 31 November
        b"20261128246000Z",
    ],
)
def test_gen_time_outside_der_is_refused(text: bytes) -> None:
    with pytest.raises(_cms.DerError):
        _cms._gen_time(_gen_time_der(text), _cms._read(_gen_time_der(text), 0, len(text) + 2))


@pytest.mark.parametrize(
    ("der", "problem"),
    [
        (b"\x30\x80\x02\x01\x01\x00\x00", "indefinite"),
        (b"\x30\x81\x03\x02\x01\x01", "minimally"),  # a long form for a short length
        (b"\x30\x82\x00\x03\x02\x01\x01", "minimally"),  # a leading zero octet in the length
        (b"\x30\x05\x02\x01\x01", "truncated"),
        (b"\x3f\x01\x01\x00", "high tag"),
    ],
)
def test_encodings_outside_der_are_refused(der: bytes, problem: str) -> None:
    with pytest.raises(_cms.DerError, match=problem):
        tlv = _cms._read(der, 0, len(der))
        _cms._children(der, tlv)


@pytest.mark.parametrize(
    ("der", "problem"),
    [
        (b"\x02\x02\x00\x01", "INTEGER not minimally"),
        (b"\x02\x02\xff\x80", "INTEGER not minimally"),
        (b"\x02\x00", "INTEGER not minimally"),
    ],
)
def test_integers_outside_der_are_refused(der: bytes, problem: str) -> None:
    with pytest.raises(_cms.DerError, match=problem):
        _cms._integer(der, _cms._read(der, 0, len(der)), "test")


def test_oids_read_as_asn1crypto_reads_them_and_non_minimal_ones_are_refused() -> None:
    for dotted in ["1.2.840.113549.1.7.2", "2.16.840.1.101.3.4.2.1", "1.3.6.1.5.5.7.48.1.2", "2.999.1", "0.9.2342"]:
        der = asn1_core.ObjectIdentifier(dotted).dump()
        assert _cms.oid_value(der) == dotted
    with pytest.raises(_cms.DerError, match="minimally"):
        _cms.oid_value(b"\x06\x03\x2a\x80\x01")
    with pytest.raises(_cms.DerError, match="truncated"):
        _cms.oid_value(b"\x06\x02\x2a\x86")
    with pytest.raises(_cms.DerError, match="bytes after"):
        _cms.oid_value(b"\x06\x01\x2a\x00")


def test_bytes_after_the_content_info_are_ignored_as_by_asn1crypto(real_cms: list[bytes]) -> None:
    der = real_cms[0]
    assert _cms.signed_data(der + b"\x00" * 64) == _cms.signed_data(der) == _asn1crypto_reading(der + b"\x00" * 64)


def test_a_content_info_of_another_type_is_refused(real_cms: list[bytes]) -> None:
    der = bytearray(real_cms[0])
    at = der.find(bytes.fromhex("06092a864886f70d010702"))
    der[at + 10] = 0x01  # id-data instead of id-signedData
    with pytest.raises(_cms.DerError, match="not signed data"):
        _cms.signed_data(bytes(der))


def test_gen_time_is_utc() -> None:
    der = _gen_time_der(b"20261128104100Z")
    assert _cms._gen_time(der, _cms._read(der, 0, len(der))) == datetime(2026, 11, 28, 10, 41, tzinfo=UTC)


def test_certificate_serial_and_issuer_read_as_asn1crypto_reads_them(real_cms: list[bytes]) -> None:
    from asn1crypto import x509 as asn1_x509

    certificates = {der for cms in real_cms for der in _cms.signed_data(cms).certificates}
    assert len(certificates) >= 3
    for der in certificates:
        cert = asn1_x509.Certificate.load(der)
        assert _cms.certificate_serial_and_issuer(der) == (cert.serial_number, cert.issuer.dump())
    with pytest.raises(_cms.DerError, match="bytes after"):
        _cms.certificate_serial_and_issuer(der + b"\x00")
