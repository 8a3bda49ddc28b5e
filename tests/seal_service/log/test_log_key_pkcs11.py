"""The issuance log's Ed25519 key in a PKCS#11 token (SoftHSM2 2.6: CKK_EC_EDWARDS, CKM_EDDSA): generated there,
never extractable, signing checkpoints that verify with the published key, rotated like the file key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from seal_service.errors import KeyNotExtractable, KeyUnavailable
from seal_service.keys.pkcs11 import HsmEd25519PrivateKey
from seal_service.log import log_verifiers, rotate_log_key, sequence_once, signing_key
from seal_service.log.leaves import append_entry
from seal_service.storage.log_models import LogCheckpoint, LogKey
from tests.support import softhsm
from tests.support.requirements import needs
from verifier.log_entry import EntryKind, LogEntry, format_time
from verifier.tlog import NoteError, open_checkpoint, parse_note, verify_note

pytestmark = needs("softhsm2", softhsm.available())


@pytest.fixture(scope="module")
def hsm_instance(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from tests.conftest import make_instance, make_settings

    home = tmp_path_factory.mktemp("log-hsm")
    instance = make_instance(make_settings(home, **softhsm.pkcs11_settings()))
    yield instance
    instance.engine.dispose()


def _step(instance, licence: str) -> bytes:  # type: ignore[no-untyped-def]
    entry = LogEntry(kind=EntryKind.REVOKED, licence=licence, authority="X", at=format_time(datetime.now(UTC)))
    with instance.writer.begin() as session:
        append_entry(session, entry, licence_id=licence)
    result = sequence_once(instance, at=datetime.now(UTC))
    with instance.sessions() as session:
        note = session.scalar(select(LogCheckpoint.note).where(LogCheckpoint.size == result.size))
    assert note is not None
    return note


def _current_ref(instance) -> str:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        row = session.scalars(select(LogKey).where(LogKey.retired_at.is_(None))).one()
        return row.key_ref


def test_the_log_key_is_generated_in_the_token_and_never_leaves_it(hsm_instance) -> None:  # type: ignore[no-untyped-def]
    from pkcs11 import Attribute, KeyType

    ref = _current_ref(hsm_instance)
    assert ref.startswith("pkcs11:token=seal;object=log-")
    key = signing_key(hsm_instance).private_key
    assert isinstance(key, HsmEd25519PrivateKey)
    # No log key file: every file in the key store is a PKI key other than the log's.
    assert not [p.name for p in Path(hsm_instance.settings.resolved_keys_dir).iterdir() if p.name.startswith("pki-log")]
    with pytest.raises(KeyNotExtractable):
        key.private_bytes_raw()
    with pytest.raises(KeyNotExtractable):
        key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    # What the token itself says of the object (a ceremony's evidence).
    token = hsm_instance.keys.pkcs11.token()
    with token.lock:
        from seal_service.keys.pkcs11 import Pkcs11Uri, _find_private

        private = _find_private(token, Pkcs11Uri.parse(ref))
        assert private.key_type == KeyType.EC_EDWARDS
        assert private[Attribute.LOCAL] and private[Attribute.SENSITIVE] and private[Attribute.NEVER_EXTRACTABLE]
        assert not private[Attribute.EXTRACTABLE]


def test_checkpoints_signed_in_the_token_verify_with_the_published_key_and_survive_rotation(hsm_instance) -> None:  # type: ignore[no-untyped-def]
    old_key = signing_key(hsm_instance).verifier
    before = _step(hsm_instance, "LHSM1")
    opened = open_checkpoint(before, log_key=old_key)  # an Ed25519 signature, checked by OpenSSL (cryptography)
    assert opened.checkpoint.size >= 1
    old_ref = _current_ref(hsm_instance)

    rotate_log_key(hsm_instance, at=datetime.now(UTC))
    new_ref = _current_ref(hsm_instance)
    assert new_ref.startswith("pkcs11:token=seal;object=log-") and new_ref != old_ref
    new_key = signing_key(hsm_instance).verifier
    assert new_key.name == old_key.name and new_key.key_id != old_key.key_id
    after = _step(hsm_instance, "LHSM2")
    open_checkpoint(after, log_key=new_key)
    with pytest.raises(NoteError):
        open_checkpoint(after, log_key=old_key)  # the retired key did not sign the new checkpoint
    # Both keys stay published (the trust bundle lists them): the old checkpoint still verifies.
    with hsm_instance.sessions() as session:
        published = log_verifiers(session)
    assert {v.key_id for v in published} >= {old_key.key_id, new_key.key_id}
    verify_note(parse_note(before), published)
    # The retired key stays in the token (old checkpoints are never re-signed, but nothing is destroyed).
    assert hsm_instance.keys.pkcs11.load_ed25519(old_ref).public_key().public_bytes_raw() == old_key.public_key


def test_a_token_key_that_is_not_ed25519_is_refused_as_a_log_key(hsm_instance) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.registry import list_seals

    seal_ref = next(c.key_ref for s in list_seals(hsm_instance) for c in s.certificates)
    with pytest.raises(KeyUnavailable, match="not an Ed25519 key"):
        hsm_instance.keys.pkcs11.load_ed25519(seal_ref)
