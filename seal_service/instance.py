"""One running instance: its settings, database, key store, catalogue and PKI, wired once per process.

Example::

    >>> inst = Instance(Settings(home="/tmp/seal-demo"))   # doctest: +SKIP
    >>> inst.pki.certificate(PkiRole.ROOT).subject          # doctest: +SKIP

Everything expensive (loaded keys, pyHanko signer objects, seal appearances, TSA and OCSP responders) is built
on first use and kept for the life of the process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from seal_service.catalogue import Catalogue, load_catalogue
from seal_service.errors import ConfigurationError
from seal_service.keys.store import FileKeyStore, KeyResolver, PrivateKey
from seal_service.pki.certificates import PkiUrls
from seal_service.settings import Settings
from seal_service.storage.database import make_engine, session_factory, writer_factory
from seal_service.storage.models import PkiCertificate


class PkiRole(StrEnum):
    """The service's own certificates."""

    ROOT = "root"
    SEAL_CA = "seal-ca"
    TSA = "tsa"
    OCSP = "ocsp"
    BUNDLE = "bundle"
    """Signs the trust bundle (``GET /v1/trust-bundle``) that offline verifiers check against the root."""
    AUDIT = "audit"
    """Signs the audit log's checkpoints (``seal_service.services.audit``)."""


#: Which CA issues which service certificate.
ISSUER_OF: dict[PkiRole, PkiRole] = {
    PkiRole.ROOT: PkiRole.ROOT,
    PkiRole.SEAL_CA: PkiRole.ROOT,
    PkiRole.TSA: PkiRole.ROOT,
    PkiRole.OCSP: PkiRole.SEAL_CA,
    PkiRole.BUNDLE: PkiRole.ROOT,
    PkiRole.AUDIT: PkiRole.ROOT,
}


@dataclass(frozen=True)
class PkiEntry:
    """One service certificate and the reference of its key."""

    role: PkiRole
    certificate: x509.Certificate
    key_ref: str


class Pki:
    """The service PKI as stored in the database; keys resolved on demand."""

    def __init__(self, entries: dict[PkiRole, PkiEntry], keys: KeyResolver) -> None:
        self._entries = entries
        self._keys = keys

    def certificate(self, role: PkiRole) -> x509.Certificate:
        """The certificate in ``role``."""
        try:
            return self._entries[role].certificate
        except KeyError:
            raise ConfigurationError(
                f"the instance has no {role.value} certificate; run `seal-service init` first"
            ) from None

    def key(self, role: PkiRole) -> PrivateKey:
        """The private key of the certificate in ``role``."""
        return self._keys.resolve(self._entries[role].key_ref)


class Instance:
    """Process-wide wiring of one instance."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()

    @cached_property
    def engine(self):  # type: ignore[no-untyped-def]
        """The SQLAlchemy engine."""
        return make_engine(self.settings.resolved_database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        """Session factory."""
        return session_factory(self.engine)

    @cached_property
    def writer(self) -> sessionmaker[Session]:
        """Session factory for write transactions: ``with instance.writer.begin() as session``."""
        return writer_factory(self.engine)

    @cached_property
    def key_store(self) -> FileKeyStore:
        """The encrypted file key store."""
        return FileKeyStore(self.settings.resolved_keys_dir, passphrase=self.settings.passphrase())

    @cached_property
    def keys(self) -> KeyResolver:
        """The one key resolver (file keys; PKCS#11 keys when ``SEAL_PKCS11_MODULE`` is set)."""
        from seal_service.keys.pkcs11 import Pkcs11Config

        return KeyResolver(self.key_store, pkcs11=Pkcs11Config.from_settings(self.settings))

    @cached_property
    def catalogue(self) -> Catalogue:
        """The catalogue of transferred items."""
        return load_catalogue(self.settings.catalogue_path)

    @property
    def urls(self) -> PkiUrls:
        """Public URLs that go into certificates."""
        return PkiUrls(self.settings.public_url)

    @cached_property
    def pki(self) -> Pki:
        """The service PKI, loaded once."""
        with self.sessions() as session:
            rows = session.scalars(select(PkiCertificate)).all()
        entries = {
            PkiRole(row.role): PkiEntry(
                role=PkiRole(row.role),
                certificate=x509.load_der_x509_certificate(row.certificate_der),
                key_ref=row.key_ref,
            )
            for row in rows
        }
        return Pki(entries, self.keys)

    @cached_property
    def revocation(self):  # type: ignore[no-untyped-def]
        """Certificate status, OCSP responses and CRLs of this instance."""
        from seal_service.services.revocation import RevocationService

        return RevocationService(self)

    @cached_property
    def lifecycle(self):  # type: ignore[no-untyped-def]
        """Memoranda, the effective catalogue and the seal lifecycle derived from them."""
        from seal_service.services.lifecycle import Lifecycle

        return Lifecycle(self)

    @cached_property
    def timestamps(self):  # type: ignore[no-untyped-def]
        """The RFC 3161 time-stamp authority."""
        from seal_service.protocols.tsa import TimestampAuthority

        return TimestampAuthority(
            certificate=self.pki.certificate(PkiRole.TSA),
            private_key=self.pki.key(PkiRole.TSA),
            chain=[self.pki.certificate(PkiRole.ROOT)],
        )

    @cached_property
    def sealer(self):  # type: ignore[no-untyped-def]
        """The PAdES sealer with per-seal material cached."""
        from seal_service.signing.sealer import Sealer

        return Sealer(self)

    def reset_caches(self) -> None:
        """Forget cached PKI, responders and sealers (after init, rotation or revocation)."""
        for name in ("pki", "revocation", "timestamps", "sealer", "catalogue", "lifecycle"):
            self.__dict__.pop(name, None)
