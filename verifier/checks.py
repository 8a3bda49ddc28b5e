"""Checks the verifier runs on top of pyHanko, each catching a forgery pyHanko alone reports too mildly.

Each function returns what is wrong (a short English detail) or None; :mod:`verifier.verify` turns a finding into
the report. They are pure functions of the parsed signature and the caller's trust roots.

* :func:`signature_value_problem`: the CMS signature value must verify with the certificate that the signer
  identifier names. pyHanko first matches the ESS signing-certificate attribute; when a forger swaps the
  certificate in the CMS or alters a signed attribute, that match fails and pyHanko says only INDETERMINATE /
  NO_SIGNING_CERTIFICATE_FOUND. Yet the signature value then provably does not verify: TOTAL_FAILED /
  SIG_CRYPTO_FAILURE.
* :func:`impersonated_issuer`: a certificate in the signature that names a trusted root as its issuer but was not
  signed by that root's key is a forged certificate (a self-made CA copying our names), not merely one from an
  unknown issuer: TOTAL_FAILED / SIG_CRYPTO_FAILURE instead of INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND. The
  price: a root renewed under the *same* name must reach verifiers (trust bundle) before documents chain to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator, SignatureValidationContext

from verifier import _signer_facts

__all__ = ["impersonated_issuer", "signature_value_problem"]


def _sid_certificate(signed_data: Any, signer_info: Any) -> asn1_x509.Certificate | None:
    sid = signer_info["sid"]
    for choice in signed_data["certificates"] or ():
        if choice.name != "certificate":
            continue
        cert: asn1_x509.Certificate = choice.chosen
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if cert.serial_number != wanted["serial_number"].native:
                continue
            # Byte-equal names are equal names: asn1crypto's (normalising) comparison only when the bytes differ.
            if cert.issuer.dump() == wanted["issuer"].dump() or cert.issuer == wanted["issuer"]:
                return cert
        elif sid.name == "subject_key_identifier" and cert.key_identifier == sid.chosen.native:
            return cert
    return None


def signature_value_problem(sig: Any) -> str | None:
    """What is wrong with the signature value of pyHanko's ``EmbeddedPdfSignature`` ``sig``, or None.

    None also when the signer identifier names no certificate in the CMS: then nothing can be proven here, and
    the AdES validation reports NO_SIGNING_CERTIFICATE_FOUND.
    """
    try:
        return _signer_facts.signature_value_problem(sig)  # the common case, read strictly (same answer)
    except _signer_facts.Undecided:
        pass
    signed_data = sig.signed_data
    signer_info = sig.signer_info
    cert = _sid_certificate(signed_data, signer_info)
    if cert is None:
        return None
    signed_attrs = signer_info["signed_attrs"]
    if not len(signed_attrs):
        return None  # no signed attributes: not PAdES; the AdES validation reports the format
    # The signature covers the DER of the attributes as a SET OF (tag 0x31), not as the [0] IMPLICIT field.
    encoded = signed_attrs.dump()
    message = b"\x31" + encoded[1:]
    context = SignatureValidationContext(contextual_md_algorithm=signer_info["digest_algorithm"]["algorithm"].native)
    try:
        DefaultSignatureValidator().validate_signature(
            signer_info["signature"].native, message, cert.public_key, signer_info["signature_algorithm"], context
        )
    except InvalidSignature:
        return "the signature value does not verify with the certificate its signer identifier names"
    except Exception:  # an algorithm we cannot evaluate here: the AdES validation reports it
        return None
    return None


def impersonated_issuer(sig: Any, trust_roots: Sequence[x509.Certificate]) -> str | None:
    """A certificate in ``sig`` that claims a trusted root as issuer but was not signed by it, described; or None."""
    roots = tuple(trust_roots)
    roots_key = tuple(root.public_bytes(Encoding.DER) for root in roots)
    for choice in sig.signed_data["certificates"] or ():
        if choice.name != "certificate":
            continue
        der = choice.chosen.dump()
        key = (der, roots_key)
        try:
            problem = _IMPERSONATION[key]
        except KeyError:
            problem = _impersonation(der, roots, roots_key)
            if len(_IMPERSONATION) >= _MAX_ENTRIES:
                _IMPERSONATION.clear()
            _IMPERSONATION[key] = problem
        if problem is not None:
            return problem
    return None


_MAX_ENTRIES = 4096
_IMPERSONATION: dict[tuple[bytes, tuple[bytes, ...]], str | None] = {}
"""(a certificate's DER, the trust roots' DERs in order) -> :func:`_impersonation` of them. A pure function of
exactly those bytes (the time, the document and anything else play no part), so a cached answer is the answer."""


def _impersonation(der: bytes, roots: Sequence[x509.Certificate], root_ders: Sequence[bytes]) -> str | None:
    """What is wrong with the certificate ``der`` if it names one of ``roots`` as issuer without being signed by it
    (the last root of a name counts, as in a dict built in order); None if nothing is."""
    by_name = {root.subject.public_bytes(): root for root in roots}
    if der in set(root_ders):
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion):
        return None
    root = by_name.get(cert.issuer.public_bytes())
    if root is None:
        return None
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return (
            f"certificate {cert.subject.rfc4514_string()} (serial {cert.serial_number:x}) names the trusted root "
            f"{root.subject.rfc4514_string()} as its issuer, but that root's key did not sign it"
        )
    return None
