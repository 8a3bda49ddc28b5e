"""The verifier as an object: trust, revocation knowledge and the licence registry set once, many documents checked.

Example::

    from pathlib import Path

    from verifier import Verifier, load_trust_roots
    from verifier.registry import ServiceRegistry

    verifier = Verifier.from_trust_roots(load_trust_roots(["one-seal-root.pem"]))
    report = verifier.verify(Path("licence.pdf").read_bytes())
    print(report.verdict, [(c.name, c.outcome.value) for c in report.checks])

    # With the service's signed trust bundle (seal retirements, revocations) and online licence status:
    online = Verifier.from_bundle(bundle, registry=ServiceRegistry("https://seal.example.gov.cn"))

The checks run in the order of :data:`verifier.report.CHECK_ORDER`: structure, integrity, coverage, chain /
revocation / time (offline, :func:`verifier.verify_pdf`), the seal's lifecycle (with a trust bundle,
:mod:`verifier.policy`), then the licence's identity and status (with a registry, :mod:`verifier.registry`).

What a ``Verifier`` keeps between documents, and why that cannot change a verdict: the validation policy object
(trust roots, the revocation policy, the caller's CRLs parsed once) is built from the constructor's arguments
only, and the registry remembers records by licence id for its own lifetime. The fast path
(:mod:`verifier._fastpath`, on unless ``fast_path=False``) keeps, per process, facts that are pure functions of
the exact bytes they are keyed by (a certificate's or CRL's parse, whether a signature verifies under a key);
everything that depends on the time, the trust roots or the document is evaluated per document, and no verdict
is reused (docs/verification.md, "Caching and why it cannot change a verdict").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from verifier._fastpath import FastPath
from verifier.bundle import TrustBundle
from verifier.errors import InputError
from verifier.gm import NationalContext, with_national_seals
from verifier.gm_revocation import is_sm2_crl
from verifier.log_check import LogCheck
from verifier.ltv import RevocationSources
from verifier.registry import LicenceRegistry, check_licence
from verifier.report import VerificationReport
from verifier.verify import _check_arguments, _unfinished, _validation_spec, _verify, _with_lifecycle_check

__all__ = ["Verifier", "load_crls"]


def load_crls(paths: Iterable[str | Path]) -> list[bytes]:
    """The CRLs in the files at ``paths`` (PEM or DER), as DER; :class:`InputError` naming a bad file."""
    found: list[bytes] = []
    for path in paths:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read CRL file ({exc.strerror or exc})") from None
        try:
            crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        except ValueError:
            raise InputError(f"{path}: not a CRL (expected PEM '-----BEGIN X509 CRL-----' or DER)") from None
        found.append(crl.public_bytes(serialization.Encoding.DER))
    return found


class Verifier:
    """Verifies sealed PDFs against fixed trust roots, optional trust bundle, CRLs and licence registry."""

    def __init__(
        self,
        *,
        trust_roots: Sequence[x509.Certificate],
        bundle: TrustBundle | None = None,
        crls: Sequence[bytes] = (),
        registry: LicenceRegistry | None = None,
        fast_path: bool = True,
        revocation: RevocationSources | None = None,
        log_check: LogCheck | None = None,
        sm2_roots: Sequence[bytes] = (),
        require_national_seal: bool = False,
    ) -> None:
        """Prefer the named constructors :meth:`from_trust_roots` and :meth:`from_bundle`. ``fast_path=False``
        sends every document through pyHanko's full validation (same verdicts, slower). ``revocation`` says where
        revocation data for seals below B-LTA may be fetched (the issuing service, the certificates' addresses);
        default nowhere (offline). ``sm2_roots`` (DER) are the trusted SM2 roots for national seals (国密);
        ``require_national_seal`` makes a national seal mandatory."""
        if not trust_roots:
            raise InputError("at least one trust root is required")
        self.trust_roots = tuple(trust_roots)
        self.bundle = bundle
        # SM2-signed CRLs belong to the national seal (pyHanko cannot read their signatures); the rest to PAdES.
        self.sm2_crls = tuple(c for c in crls if is_sm2_crl(c))
        self.crls = tuple(c for c in crls if not is_sm2_crl(c))
        self.registry = registry
        self.revocation = revocation
        self.log_check = log_check
        """Whether each valid licence must be in the issuance log (:mod:`verifier.log_check`)."""
        self.sm2_roots = tuple(sm2_roots)
        self.require_national_seal = require_national_seal
        self._spec = _validation_spec(self.trust_roots, self.crls)
        self._fast = FastPath(self.trust_roots, self.crls) if fast_path else None

    @classmethod
    def from_trust_roots(
        cls,
        certs: Sequence[x509.Certificate],
        *,
        crls: Sequence[bytes] = (),
        registry: LicenceRegistry | None = None,
        revocation: RevocationSources | None = None,
        sm2_roots: Sequence[bytes] = (),
        require_national_seal: bool = False,
    ) -> Verifier:
        """Trust ``certs`` (PKI only: chain, revocation, time; no seal lifecycle rules)."""
        return cls(
            trust_roots=certs,
            crls=crls,
            registry=registry,
            revocation=revocation,
            sm2_roots=sm2_roots,
            require_national_seal=require_national_seal,
        )

    @classmethod
    def from_bundle(
        cls,
        bundle: TrustBundle,
        *,
        crls: Sequence[bytes] = (),
        registry: LicenceRegistry | None = None,
        revocation: RevocationSources | None = None,
        log_check: LogCheck | None = None,
        sm2_roots: Sequence[bytes] = (),
        require_national_seal: bool = False,
    ) -> Verifier:
        """Trust the root of an already checked bundle (:func:`verifier.bundle.load_trust_bundle`) and judge
        seals by its lifecycle data: retired at a cut-over, revoked, key compromised since a date."""
        return cls(
            trust_roots=[bundle.root],
            bundle=bundle,
            crls=crls,
            registry=registry,
            revocation=revocation,
            log_check=log_check,
            sm2_roots=sm2_roots or bundle.sm2_roots,
            require_national_seal=require_national_seal,
        )

    async def verify_async(self, pdf: bytes, *, at: datetime | None = None, file: str = "") -> VerificationReport:
        """:meth:`verify` for callers inside an event loop."""
        clock = _check_arguments(self.trust_roots, at)
        try:
            report = await _verify(pdf, self._spec, clock, file, self.trust_roots, self._fast, self.revocation)
            report = with_national_seals(
                report,
                pdf,
                sm2_roots=self.sm2_roots,
                require=self.require_national_seal,
                at=clock,
                context=self._national_context(),
            )
            if self.bundle is not None:
                from verifier.policy import apply_lifecycle_policy

                report = _with_lifecycle_check(report, apply_lifecycle_policy(report, self.bundle, at=clock))
            if self.registry is not None:
                report = check_licence(report, pdf, self.registry, at=clock)
            if self.log_check is not None:
                report = self.log_check.apply(report, pdf, bundle=self.bundle)
            return report
        except Exception as exc:  # a verifier bug or a file pyHanko chokes on: never a traceback, an honest answer
            return _unfinished(file, exc)

    def _national_context(self) -> NationalContext:
        sources = self.revocation
        return NationalContext(
            trust_roots=tuple(root.public_bytes(serialization.Encoding.DER) for root in self.trust_roots),
            crls=self.sm2_crls,
            bundle=self.bundle.sm2_status_source if self.bundle is not None else None,
            service_url=sources.service_url if sources is not None else None,
            online=sources.online if sources is not None else False,
            timeout=sources.timeout if sources is not None else 10.0,
        )

    def verify(self, pdf: bytes, *, at: datetime | None = None, file: str = "") -> VerificationReport:
        """Verify ``pdf`` with the clock at ``at`` (default now, timezone-aware); never raises for a bad document."""
        import asyncio

        return asyncio.run(self.verify_async(pdf, at=at, file=file))

    def __repr__(self) -> str:
        names = ", ".join(root.subject.rfc4514_string() for root in self.trust_roots)
        extras = [x for x in ("bundle" if self.bundle else "", f"{len(self.crls)} CRLs" if self.crls else "") if x]
        return f"Verifier(roots=[{names}]{', ' + ', '.join(extras) if extras else ''})"
