"""Seal keys in a PKCS#11 token (SoftHSM2): references, non-extractable keys, signing, the one resolver."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from seal_service.errors import ConfigurationError, KeyNotExtractable, KeyUnavailable
from seal_service.keys.pkcs11 import HsmEcPrivateKey, HsmRsaPrivateKey, Pkcs11Config, Pkcs11KeyStore, Pkcs11Uri
from seal_service.keys.store import FileKeyStore, KeyResolver
from seal_service.settings import KeyAlgorithm, KeyBackend, Settings
from tests.support import softhsm
from tests.support.requirements import needs

pytestmark = needs("softhsm2", softhsm.available())


@pytest.fixture(scope="module")
def token() -> softhsm.SoftHsmToken:
    return softhsm.session_token()


@pytest.fixture(scope="module")
def store(token: softhsm.SoftHsmToken) -> Pkcs11KeyStore:
    return Pkcs11KeyStore(Pkcs11Config(module=token.module, token=token.label, pin=lambda: token.pin))


@pytest.fixture(scope="module")
def ec_key(store: Pkcs11KeyStore) -> HsmEcPrivateKey:
    _ref, key = store.generate("test-ec-key", KeyAlgorithm.EC_P256)
    assert isinstance(key, HsmEcPrivateKey)
    return key


def test_references_round_trip_and_refuse_what_they_cannot_mean() -> None:
    uri = Pkcs11Uri(token="seal", label="seal-jc-bureau-approval-2", key_id=bytes.fromhex("3fa109"))
    assert str(uri) == "pkcs11:token=seal;object=seal-jc-bureau-approval-2;id=%3f%a1%09"
    assert Pkcs11Uri.parse(str(uri)) == uri
    # The brief's form (label only) is accepted too.
    assert Pkcs11Uri.parse("pkcs11:token=seal;object=seal-x-1") == Pkcs11Uri(token="seal", label="seal-x-1")
    for bad, message in [
        ("pkcs11:object=k", "needs token"),
        ("pkcs11:token=seal", "object=<label> or id"),
        ("pkcs11:token=seal;object=k;pin-value=1234", "unsupported attribute"),
        ("pkcs11:token=seal;object=k;type=public", "private key"),
        ("file:seal-1", "not a PKCS#11"),
    ]:
        with pytest.raises(KeyUnavailable, match=message):
            Pkcs11Uri.parse(bad)


def test_generated_keys_are_sensitive_and_never_leave_the_token(store: Pkcs11KeyStore, ec_key: HsmEcPrivateKey) -> None:
    from pkcs11 import Attribute, KeyType
    from pkcs11 import exceptions as p11e

    token = store.token()
    with token.lock:
        private = token.session.get_key(
            label=ec_key.uri.label, id=ec_key.uri.key_id, object_class=ec_key._handle.object_class
        )
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        assert private[Attribute.ALWAYS_SENSITIVE] is True
        # (1) The token refuses to reveal the private value...
        with pytest.raises(p11e.AttributeSensitive):
            private[Attribute.VALUE]
        # (2) ...and to wrap (export encrypted) the key under a key we would hold.
        wrapping = token.session.generate_key(
            KeyType.AES, 256, store=False, template={Attribute.WRAP: True, Attribute.EXTRACTABLE: True}
        )
        with pytest.raises(p11e.KeyUnextractable):
            wrapping.wrap_key(private)
    # (3) The service's key object refuses every export path cryptography offers.
    with pytest.raises(KeyNotExtractable):
        ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    with pytest.raises(KeyNotExtractable):
        ec_key.private_numbers()


def test_ec_token_key_signs_like_a_cryptography_key(ec_key: HsmEcPrivateKey) -> None:
    # Raw CKM_ECDSA over a digest computed here (SoftHSM2 2.6.1 has no CKM_ECDSA_SHA256), DER-encoded.
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey)
    assert ec_key.curve.name == "secp256r1" and ec_key.key_size == 256
    signature = ec_key.sign(b"licence bytes", ec.ECDSA(hashes.SHA256()))
    ec_key.public_key().verify(signature, b"licence bytes", ec.ECDSA(hashes.SHA256()))
    digest = hashlib.sha256(b"licence bytes").digest()
    prehashed = ec_key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    ec_key.public_key().verify(prehashed, b"licence bytes", ec.ECDSA(hashes.SHA256()))


def test_rsa_token_key_signs_pkcs1v15(store: Pkcs11KeyStore) -> None:
    ref, key = store.generate("test-rsa-key", KeyAlgorithm.RSA_3072)
    try:
        assert isinstance(key, HsmRsaPrivateKey) and isinstance(key, rsa.RSAPrivateKey)
        assert key.key_size == 3072
        for algorithm in (hashes.SHA256(), hashes.SHA384()):
            signature = key.sign(b"data", padding.PKCS1v15(), algorithm)
            key.public_key().verify(signature, b"data", padding.PKCS1v15(), algorithm)
        digest = hashlib.sha256(b"data").digest()
        signature = key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        key.public_key().verify(signature, b"data", padding.PKCS1v15(), hashes.SHA256())
        with pytest.raises(KeyUnavailable, match=r"PKCS#1 v1\.5"):
            key.sign(b"data", padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        with pytest.raises(KeyNotExtractable):
            key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
    finally:
        store.destroy(ref)


def test_the_resolver_resolves_generates_and_destroys_token_keys(tmp_path: Path, token: softhsm.SoftHsmToken) -> None:
    resolver = KeyResolver(
        FileKeyStore(tmp_path, passphrase=b"p"),
        pkcs11=Pkcs11Config(module=token.module, token=token.label, pin=lambda: token.pin),
    )
    ref, key = resolver.generate("seal-resolver-test-1", KeyAlgorithm.EC_P256, backend=KeyBackend.PKCS11)
    assert ref.startswith("pkcs11:token=seal;object=seal-resolver-test-1;id=%")
    assert KeyResolver.backend_of(ref) is KeyBackend.PKCS11
    # A fresh resolver (another process, say) finds the same key by its reference.
    other = KeyResolver(
        FileKeyStore(tmp_path, passphrase=b"p"),
        pkcs11=Pkcs11Config(module=token.module, token=token.label, pin=lambda: token.pin),
    )
    found = other.resolve(ref)
    assert found.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    signature = found.sign(b"x", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg, arg-type]
    key.public_key().verify(signature, b"x", ec.ECDSA(hashes.SHA256()))  # type: ignore[call-arg, arg-type]
    resolver.destroy(ref)
    with pytest.raises(KeyUnavailable, match="no such key"):
        KeyResolver(
            FileKeyStore(tmp_path, passphrase=b"p"),
            pkcs11=Pkcs11Config(module=token.module, token=token.label, pin=lambda: token.pin),
        ).resolve(ref)


def test_token_keys_are_refused_clearly_without_configuration(tmp_path: Path, token: softhsm.SoftHsmToken) -> None:
    resolver = KeyResolver(FileKeyStore(tmp_path, passphrase=b"p"))
    with pytest.raises(KeyUnavailable, match="SEAL_PKCS11_MODULE"):
        resolver.resolve("pkcs11:token=seal;object=anything")
    with pytest.raises(KeyUnavailable, match="unknown key reference scheme"):
        resolver.resolve("vault:seal-1")
    # A wrong PIN (on a token this process has not logged in to) is a KeyUnavailable, not a crash.
    wrong = Pkcs11KeyStore(Pkcs11Config(module=token.module, token=softhsm.SPARE_TOKEN_LABEL, pin=lambda: "0000-wrong"))
    with pytest.raises(KeyUnavailable, match=r"PIN .* is wrong"):
        wrong.token()
    missing = Pkcs11KeyStore(Pkcs11Config(module=token.module, token="no-such-token", pin=lambda: token.pin))
    with pytest.raises(KeyUnavailable, match="no PKCS#11 token labelled"):
        missing.token()


def test_settings_read_the_pin_from_a_file_and_refuse_an_incomplete_backend(tmp_path: Path) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("1234-from-file\n", encoding="utf-8")
    settings = Settings(home=tmp_path, key_backend="pkcs11", pkcs11_module=Path("/x.so"), pkcs11_pin_file=pin_file)
    assert settings.pkcs11_pin_value() == "1234-from-file"
    assert Pkcs11Config.from_settings(settings) is not None
    assert "1234" not in repr(Pkcs11Config.from_settings(settings))
    with pytest.raises(ConfigurationError, match="SEAL_PKCS11_MODULE"):
        Settings(home=tmp_path, key_backend="pkcs11", pkcs11_pin="1").check_startup()
    with pytest.raises(ConfigurationError, match="no PKCS#11 PIN"):
        Settings(home=tmp_path, key_backend="pkcs11", pkcs11_module=Path("/x.so")).check_startup()


def test_an_instance_on_the_pkcs11_backend_keeps_seal_keys_in_the_token(tmp_path: Path) -> None:
    from tests.conftest import make_instance, make_settings

    instance = make_instance(make_settings(tmp_path, **softhsm.pkcs11_settings()))
    from seal_service.services.registry import list_seals

    refs = [c.key_ref for s in list_seals(instance) for c in s.certificates]
    assert refs and all(r.startswith("pkcs11:token=seal;object=seal-") for r in refs)
    # PKI keys (root, CAs, TSA, OCSP, audit) stay encrypted files; no seal key file exists.
    files = sorted(p.name for p in instance.settings.resolved_keys_dir.iterdir())
    assert files and all(name.startswith("pki-") for name in files)
    key = instance.keys.resolve(refs[0])
    assert isinstance(key, HsmEcPrivateKey)
    with pytest.raises(KeyNotExtractable):
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
