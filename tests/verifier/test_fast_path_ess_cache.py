"""The fast path's memo of accepted ESS signing-certificate attributes (verifier/_fastpath.py ``_ESS_OK``) keys on
the attribute value's bytes as in the file and the certificate's, and answers exactly as :func:`_check_ess` does."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from asn1crypto import tsp as asn1_tsp
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.verifier.conftest import Sealed
from verifier import _cms
from verifier import _fastpath as fastpath
from verifier._fastpath import FastPathRefused


def _signed_datas(data: bytes) -> list[tuple[bytes, _cms.SignedData]]:
    """(the CMS bytes, its SignedData) of every signature and signature time-stamp token in ``data``."""
    found = []
    for sig in PdfFileReader(BytesIO(data)).embedded_signatures:
        signed_data = _cms.signed_data(sig.pkcs7_content)
        found.append((sig.pkcs7_content, signed_data))
        for attr in signed_data.signer_infos[0].unsigned_attrs or ():
            if attr.oid == fastpath._ATTR_SIGNATURE_TST:
                found.append((attr.values[0], _cms.signed_data(attr.values[0])))
    return found


def _ess_and_signer(signed_data: _cms.SignedData) -> tuple[bytes, Any]:
    signer_info = signed_data.signer_infos[0]
    attrs = fastpath._attributes(signer_info.signed_attrs, what="test")
    return attrs[fastpath._ATTR_SIGNING_CERT_V2], fastpath._signer_cert(signed_data, signer_info, what="test")


def _outcome(check: Any, value: Any, cert: Any) -> str | None:
    try:
        check(value, cert, what="test")
    except FastPathRefused as refused:
        return str(refused)
    return None


def _uncached(value: bytes, cert: Any, *, what: str) -> None:
    fastpath._check_ess(asn1_tsp.SigningCertificateV2.load(value), cert, what=what)


def test_same_answers_and_exact_keys(sealed: Sealed) -> None:
    fastpath.clear_caches()
    pairs = [pair for data in (sealed.b_lta, sealed.b_lta_form) for pair in _signed_datas(data)]
    assert len(pairs) >= 6  # seal, its signature time-stamp and the document time-stamp, twice
    certs = [_ess_and_signer(signed_data)[1] for _, signed_data in pairs]
    outcomes = []
    for raw, signed_data in pairs:
        value, _ = _ess_and_signer(signed_data)
        assert value in raw  # the key is the value's bytes exactly as in the file
        for cert in certs:  # its own signer (accepted) and the others (refused)
            expected = _outcome(_uncached, value, cert)
            outcomes.append(expected)
            for _ in range(2):  # computed, then from the memo
                assert _outcome(fastpath._check_ess_cached, value, cert) == expected
    assert None in outcomes and any(outcome is not None for outcome in outcomes)
    assert fastpath._ESS_OK and all(isinstance(v, bytes) and isinstance(c, bytes) for v, c in fastpath._ESS_OK)
    fastpath.clear_caches()
    assert not fastpath._ESS_OK


@pytest.mark.parametrize("level", ["b_lta", "b_lt", "b_b"])
def test_a_refusal_is_never_remembered(sealed: Sealed, level: str) -> None:
    fastpath.clear_caches()
    for _, signed_data in _signed_datas(getattr(sealed, level)):
        value, cert = _ess_and_signer(signed_data)
        assert _outcome(fastpath._check_ess_cached, value, cert) is None
        others = [
            _ess_and_signer(other)[1] for _, other in _signed_datas(sealed.b_lta) if _ess_and_signer(other)[1] != cert
        ]
        for other in others:
            assert _outcome(fastpath._check_ess_cached, value, other) is not None
            assert (value, other.der) not in fastpath._ESS_OK
