"""The fast path's memo of accepted ESS signing-certificate attributes (verifier/_fastpath.py ``_ESS_OK``) keys on
the attribute's original bytes and the certificate's, and answers exactly as :func:`_check_ess` does."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from asn1crypto import cms as asn1_cms
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.verifier.conftest import Sealed
from verifier import _fastpath as fastpath
from verifier._fastpath import FastPathRefused


def _signed_datas(data: bytes) -> list[tuple[bytes, Any]]:
    """(the CMS bytes, a fresh parse of its SignedData) of every signature and signature time-stamp token."""
    found = []
    for sig in PdfFileReader(BytesIO(data)).embedded_signatures:
        signed_data = asn1_cms.ContentInfo.load(sig.pkcs7_content)["content"]
        found.append((sig.pkcs7_content, signed_data))
        unsigned = signed_data["signer_infos"][0]["unsigned_attrs"]
        for attr in unsigned if unsigned.native is not None else ():
            if attr["type"].dotted == fastpath._ATTR_SIGNATURE_TST:
                token = asn1_cms.ContentInfo.load(attr["values"][0].dump())
                found.append((attr["values"][0].dump(), token["content"]))
    return found


def _ess_and_signer(signed_data: Any) -> tuple[Any, Any]:
    signer_info = signed_data["signer_infos"][0]
    attrs = fastpath._attributes(signer_info["signed_attrs"], what="test")
    return attrs[fastpath._ATTR_SIGNING_CERT_V2], fastpath._signer_cert(signed_data, signer_info, what="test")


def _outcome(check: Any, value: Any, cert: Any) -> str | None:
    try:
        check(value, cert, what="test")
    except FastPathRefused as refused:
        return str(refused)
    return None


def test_same_answers_and_exact_keys(sealed: Sealed) -> None:
    fastpath.clear_caches()
    pairs = [pair for data in (sealed.b_lta, sealed.b_lta_form) for pair in _signed_datas(data)]
    assert len(pairs) >= 6  # seal, its signature time-stamp and the document time-stamp, twice
    certs = [_ess_and_signer(signed_data)[1] for _, signed_data in pairs]
    outcomes = []
    for raw, signed_data in pairs:
        value, _ = _ess_and_signer(signed_data)
        assert value.dump() in raw  # the key is the value's bytes exactly as in the file
        for cert in certs:  # its own signer (accepted) and the others (refused)
            fresh, _ = _signed_datas_fresh(raw)
            expected = _outcome(fastpath._check_ess, fresh, cert)
            outcomes.append(expected)
            for _ in range(2):  # computed, then from the memo
                fresh, _ = _signed_datas_fresh(raw)
                assert _outcome(fastpath._check_ess_cached, fresh, cert) == expected
    assert None in outcomes and any(outcome is not None for outcome in outcomes)
    assert fastpath._ESS_OK and all(isinstance(v, bytes) and isinstance(c, bytes) for v, c in fastpath._ESS_OK)
    fastpath.clear_caches()
    assert not fastpath._ESS_OK


def _signed_datas_fresh(raw: bytes) -> tuple[Any, Any]:
    """A fresh parse of the ESS value in the CMS ``raw`` (nothing read from it yet) and its signer."""
    signed_data = asn1_cms.ContentInfo.load(raw)["content"]
    return _ess_and_signer(signed_data)[0], signed_data


@pytest.mark.parametrize("level", ["b_lta", "b_lt", "b_b"])
def test_a_refusal_is_never_remembered(sealed: Sealed, level: str) -> None:
    fastpath.clear_caches()
    for raw, signed_data in _signed_datas(getattr(sealed, level)):
        value, cert = _ess_and_signer(signed_data)
        assert _outcome(fastpath._check_ess_cached, value, cert) is None
        others = [
            _ess_and_signer(other)[1] for _, other in _signed_datas(sealed.b_lta) if _ess_and_signer(other)[1] != cert
        ]
        for other in others:
            fresh, _ = _signed_datas_fresh(raw)
            assert _outcome(fastpath._check_ess_cached, fresh, other) is not None
            assert (fresh.dump(), other.der) not in fastpath._ESS_OK
