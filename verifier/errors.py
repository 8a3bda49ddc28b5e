"""Errors the verifier raises.

A document that fails verification is *not* an error: it yields a :class:`~verifier.report.VerificationReport`
whose verdict says so. Errors are for the caller's mistakes and unusable input around the document: no trust
root, an unreadable PEM file, a naive clock. The CLI turns every :class:`VerifierError` into exit code 2.
"""

from __future__ import annotations


class VerifierError(Exception):
    """Root of the verifier's errors."""


class InputError(VerifierError):
    """Input the verifier cannot work with: a missing or unreadable file, a bad trust root, a naive time."""
