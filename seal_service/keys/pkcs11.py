"""Seal keys in a PKCS#11 token (an HSM; SoftHSM2 in development and tests), used through key references.

Example::

    >>> config = Pkcs11Config(module=Path("/usr/lib/softhsm/libsofthsm2.so"), token="seal", pin=lambda: "1234")
    >>> store = Pkcs11KeyStore(config)                                               # doctest: +SKIP
    >>> ref, key = store.generate("seal-jc-bureau-approval-2", KeyAlgorithm.EC_P256)  # doctest: +SKIP
    >>> ref                                                                           # doctest: +SKIP
    'pkcs11:token=seal;object=seal-jc-bureau-approval-2;id=%3f%a1%09%c2%5e%17%80%d4'
    >>> key.sign(b"data", ec.ECDSA(hashes.SHA256()))                                  # doctest: +SKIP

A reference is an RFC 7512 PKCS#11 URI naming the token and the key (label ``object``, and ``id``, a random
CKA_ID given at generation so that labels may repeat across instances sharing a token). The PIN never appears in
a reference: it comes from ``SEAL_PKCS11_PIN`` or ``SEAL_PKCS11_PIN_FILE``.

Keys are generated in the token with CKA_SENSITIVE=true and CKA_EXTRACTABLE=false, so the private key never
leaves it. :class:`HsmEcPrivateKey` and :class:`HsmRsaPrivateKey` implement cryptography's private-key
interfaces (``sign``, ``public_key``, ``key_size``...) by asking the token to sign; every export method raises
:class:`~seal_service.errors.KeyNotExtractable`. The sealer signs with them exactly as with file keys.

SoftHSM2 2.6.1 has no CKM_ECDSA_SHA256, so EC keys sign with raw CKM_ECDSA over a digest computed here, and the
raw ``r || s`` answer is encoded as the DER ``ECDSA-Sig-Value`` that CMS expects. RSA keys sign with
CKM_SHA256_RSA_PKCS (or SHA-384/512), or CKM_RSA_PKCS over a DigestInfo for pre-hashed input.

One login session per (module, token) is shared by the whole process (PKCS#11 logs in an application, not a
session) and serialised with a lock; a PKCS#11 session must not run two operations at once.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from seal_service.errors import ConfigurationError, KeyNotExtractable, KeyUnavailable
from seal_service.settings import KeyAlgorithm, Settings

#: DER DigestInfo prefixes (RFC 8017 §9.2 note 1) for RSA PKCS#1 v1.5 over a pre-computed digest.
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_URI_ATTRIBUTES = {"token", "object", "id", "type"}


@dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed ``pkcs11:`` key reference (RFC 7512 path attributes ``token``, ``object``, ``id``)."""

    token: str
    """Token label."""
    label: str | None = None
    """CKA_LABEL of the key (``object=``)."""
    key_id: bytes | None = None
    """CKA_ID of the key (``id=``, percent-encoded bytes)."""

    @classmethod
    def parse(cls, ref: str) -> Pkcs11Uri:
        """Parse ``ref``; refuses unknown attributes, a missing token, or a key named by neither label nor id."""
        if not ref.startswith("pkcs11:"):
            raise KeyUnavailable(f"not a PKCS#11 key reference: {ref.split(':', 1)[0]}:...")
        path = ref[len("pkcs11:") :].split("?", 1)[0]
        values: dict[str, bytes] = {}
        for part in filter(None, path.split(";")):
            name, sep, raw = part.partition("=")
            if not sep or name not in _URI_ATTRIBUTES:
                raise KeyUnavailable(f"unsupported attribute {name!r} in PKCS#11 reference")
            values[name] = unquote_to_bytes(raw)
        if values.get("type", b"private") != b"private":
            raise KeyUnavailable("a PKCS#11 key reference must name a private key (type=private)")
        if not values.get("token"):
            raise KeyUnavailable("a PKCS#11 key reference needs token=<label>")
        label = values["object"].decode() if values.get("object") else None
        key_id = values.get("id") or None
        if label is None and key_id is None:
            raise KeyUnavailable("a PKCS#11 key reference needs object=<label> or id=<id>")
        return cls(token=values["token"].decode(), label=label, key_id=key_id)

    def __str__(self) -> str:
        parts = [f"token={quote(self.token, safe='')}"]
        if self.label is not None:
            parts.append(f"object={quote(self.label, safe='')}")
        if self.key_id is not None:
            parts.append("id=" + "".join(f"%{b:02x}" for b in self.key_id))
        return "pkcs11:" + ";".join(parts)


@dataclass(frozen=True)
class Pkcs11Config:
    """How to reach the PKCS#11 module: library path, the token for new keys, and where the PIN comes from."""

    module: Path
    token: str
    pin: Callable[[], str] = field(repr=False)
    """Returns the user PIN when a token is first opened (read from the environment or a file)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Pkcs11Config | None:
        """The configuration in ``settings``, or None when no ``SEAL_PKCS11_MODULE`` is set."""
        if settings.pkcs11_module is None:
            return None
        return cls(module=settings.pkcs11_module, token=settings.pkcs11_token, pin=settings.pkcs11_pin_value)


class Pkcs11Token:
    """A logged-in read-write session to one token; every operation holds the lock."""

    def __init__(self, module: Path, token_label: str, pin: str) -> None:
        self.label = token_label
        self._module = module
        self._pin = pin
        self.lock = threading.RLock()
        self._session: Any = None
        self._open()

    def _open(self) -> None:
        import pkcs11
        from pkcs11 import exceptions as p11e

        try:
            lib = pkcs11.lib(str(self._module))
        except Exception as exc:  # the module cannot be loaded (path, architecture, missing config)
            raise ConfigurationError(f"cannot load PKCS#11 module {self._module}: {exc}") from exc
        try:
            token = lib.get_token(token_label=self.label)
        except p11e.NoSuchToken:
            raise KeyUnavailable(f"no PKCS#11 token labelled {self.label!r} in {self._module.name}") from None
        try:
            self._session = token.open(rw=True, user_pin=self._pin)
        except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange):
            raise KeyUnavailable(f"the PIN of PKCS#11 token {self.label!r} is wrong") from None
        except p11e.PinLocked:
            raise KeyUnavailable(f"the PIN of PKCS#11 token {self.label!r} is locked") from None

    def reopen(self) -> None:
        """Open a fresh session (after the token was reset or the session lost)."""
        with self.lock:
            try:
                if self._session is not None:
                    self._session.close()
            except Exception:  # noqa: S110 - the old session is gone anyway
                pass
            self._open()

    @property
    def session(self) -> Any:
        """The python-pkcs11 session (callers hold :attr:`lock`)."""
        return self._session


_TOKENS: dict[tuple[str, str], tuple[str, Pkcs11Token]] = {}
_TOKENS_LOCK = threading.Lock()


def open_token(module: Path, token_label: str, pin: str) -> Pkcs11Token:
    """The process-wide session of a token (PKCS#11 logs in once per application, not per session)."""
    key = (str(module), token_label)
    pin_digest = hashlib.sha256(pin.encode()).hexdigest()
    with _TOKENS_LOCK:
        found = _TOKENS.get(key)
        if found is not None:
            if found[0] != pin_digest:
                raise KeyUnavailable(f"PKCS#11 token {token_label!r} is already open in this process with another PIN")
            return found[1]
        token = Pkcs11Token(module, token_label, pin)
        _TOKENS[key] = (pin_digest, token)
        return token


def _digest_of(data: bytes, algorithm: hashes.HashAlgorithm | Prehashed) -> tuple[bytes, str]:
    if isinstance(algorithm, Prehashed):
        # Prehashed exposes only the digest size; SHA-2 sizes name the algorithm unambiguously here.
        return data, {32: "sha256", 48: "sha384", 64: "sha512"}.get(algorithm.digest_size, "")
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize(), algorithm.name


class _HsmKey:
    """What EC and RSA token keys share: the token, how to find the key, and refusing every export."""

    def __init__(
        self,
        token: Pkcs11Token,
        uri: Pkcs11Uri,
        public: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | Ed25519PublicKey,
    ):
        self._token = token
        self.uri = uri
        self._public = public
        self._handle: Any = None

    @property
    def ref(self) -> str:
        """The key reference."""
        return str(self.uri)

    def _sign_with(self, mechanism: Any, data: bytes) -> bytes:
        from pkcs11 import exceptions as p11e

        for attempt in (1, 2):
            with self._token.lock:
                try:
                    if self._handle is None:
                        self._handle = _find_private(self._token, self.uri)
                    return bytes(self._handle.sign(data, mechanism=mechanism))
                except (p11e.SessionHandleInvalid, p11e.SessionClosed, p11e.ObjectHandleInvalid, p11e.KeyHandleInvalid):
                    # The token was reset or the session dropped: log in again once, find the key again.
                    self._handle = None
                    if attempt == 2:
                        raise KeyUnavailable(f"PKCS#11 session lost while signing with {self.ref}") from None
                    self._token.reopen()
                except p11e.PKCS11Error as exc:
                    raise KeyUnavailable(f"the token refused to sign with {self.ref}: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    def private_bytes(self, *args: object, **kwargs: object) -> bytes:
        """Refused: the private key is non-extractable and never leaves the token."""
        raise KeyNotExtractable(f"the private key {self.ref} is held in a PKCS#11 token and cannot be exported")

    def private_numbers(self) -> Any:
        """Refused: the private key is non-extractable and never leaves the token."""
        raise KeyNotExtractable(f"the private key {self.ref} is held in a PKCS#11 token and cannot be exported")

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Any:
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ref}>"


class HsmEcPrivateKey(_HsmKey, ec.EllipticCurvePrivateKey):
    """An EC private key in a token, usable wherever cryptography's ``EllipticCurvePrivateKey.sign`` is."""

    _public: ec.EllipticCurvePublicKey

    def sign(self, data: bytes, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        """DER ECDSA signature of ``data`` (hashed here; the token signs the digest with raw CKM_ECDSA)."""
        from pkcs11 import Mechanism

        if not isinstance(signature_algorithm, ec.ECDSA):
            raise KeyUnavailable("token EC keys sign ECDSA only")
        digest, _name = _digest_of(data, signature_algorithm.algorithm)
        raw = self._sign_with(Mechanism.ECDSA, digest)
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public key (read from the token's public key object once)."""
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        """The curve, e.g. SECP256R1."""
        return self._public.curve

    @property
    def key_size(self) -> int:
        """Bit size of the curve."""
        return self._public.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """Refused: seal keys sign and nothing else."""
        raise KeyUnavailable("token seal keys are for signing only")


class HsmRsaPrivateKey(_HsmKey, rsa.RSAPrivateKey):
    """An RSA private key in a token, usable wherever cryptography's ``RSAPrivateKey.sign`` is (PKCS#1 v1.5)."""

    _public: rsa.RSAPublicKey

    def sign(
        self,
        data: bytes,
        padding_: padding.AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | Prehashed,
    ) -> bytes:
        """RSASSA-PKCS1-v1_5 signature of ``data`` made by the token."""
        from pkcs11 import Mechanism

        if not isinstance(padding_, padding.PKCS1v15):
            raise KeyUnavailable("token RSA keys sign with PKCS#1 v1.5 padding only")
        if isinstance(algorithm, Prehashed):
            digest, name = _digest_of(data, algorithm)
            if name not in _DIGEST_INFO:
                raise KeyUnavailable(f"unsupported digest {name} for a token RSA key")
            return self._sign_with(Mechanism.RSA_PKCS, _DIGEST_INFO[name] + digest)
        mechanisms = {
            "sha256": Mechanism.SHA256_RSA_PKCS,
            "sha384": Mechanism.SHA384_RSA_PKCS,
            "sha512": Mechanism.SHA512_RSA_PKCS,
        }
        if algorithm.name not in mechanisms:
            raise KeyUnavailable(f"unsupported digest {algorithm.name} for a token RSA key")
        return self._sign_with(mechanisms[algorithm.name], data)

    def public_key(self) -> rsa.RSAPublicKey:
        """The public key (modulus and exponent read from the token once)."""
        return self._public

    @property
    def key_size(self) -> int:
        """Modulus size in bits."""
        return self._public.key_size

    def decrypt(self, ciphertext: bytes, padding_: padding.AsymmetricPadding) -> bytes:
        """Refused: seal keys sign and nothing else."""
        raise KeyUnavailable("token seal keys are for signing only")


HsmPrivateKey = HsmEcPrivateKey | HsmRsaPrivateKey


class HsmEd25519PrivateKey(_HsmKey, Ed25519PrivateKey):
    """An Ed25519 key in a token (CKK_EC_EDWARDS, signing with CKM_EDDSA): the issuance log's key, usable
    wherever cryptography's ``Ed25519PrivateKey.sign`` is. Seal keys are never Ed25519 (PAdES here is ECDSA/RSA)."""

    _public: Ed25519PublicKey

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data`` (pure EdDSA, as RFC 8032 and the C2SP signed notes use)."""
        from pkcs11 import Mechanism

        return self._sign_with(Mechanism.EDDSA, data)

    def public_key(self) -> Ed25519PublicKey:
        """The public key (read from the token's public key object once)."""
        return self._public

    def private_bytes_raw(self) -> bytes:
        """Refused: the private key is non-extractable and never leaves the token."""
        raise KeyNotExtractable(f"the private key {self.ref} is held in a PKCS#11 token and cannot be exported")


#: The curve of Ed25519 keys as CKA_EC_PARAMS names it: the OID id-Ed25519 (RFC 8410), which SoftHSM2 accepts.
_ED25519_OID = "1.3.101.112"


def _find(token: Pkcs11Token, uri: Pkcs11Uri, object_class: Any) -> Any:
    from pkcs11 import exceptions as p11e

    try:
        return token.session.get_key(object_class=object_class, label=uri.label, id=uri.key_id)
    except p11e.NoSuchKey:
        raise KeyUnavailable(f"no such key in the token: {uri}") from None
    except p11e.MultipleObjectsReturned:
        raise KeyUnavailable(f"the reference {uri} matches several keys; add id=... to make it unique") from None


def _find_private(token: Pkcs11Token, uri: Pkcs11Uri) -> Any:
    from pkcs11 import ObjectClass

    return _find(token, uri, ObjectClass.PRIVATE_KEY)


def _public_key_of(token: Pkcs11Token, uri: Pkcs11Uri, private: Any) -> ec.EllipticCurvePublicKey | rsa.RSAPublicKey:
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.util.ec import encode_ec_public_key

    if private.key_type == KeyType.RSA:
        # Modulus and public exponent are public attributes of the private key object too.
        modulus = int.from_bytes(private[Attribute.MODULUS], "big")
        exponent = int.from_bytes(private[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    if private.key_type == KeyType.EC:
        public = _find(token, uri, ObjectClass.PUBLIC_KEY)
        loaded = serialization.load_der_public_key(encode_ec_public_key(public))
        assert isinstance(loaded, ec.EllipticCurvePublicKey)
        return loaded
    raise KeyUnavailable(f"key {uri} is neither EC nor RSA")


def _wrap(token: Pkcs11Token, uri: Pkcs11Uri, private: Any) -> HsmPrivateKey:
    public = _public_key_of(token, uri, private)
    key: HsmPrivateKey
    if isinstance(public, rsa.RSAPublicKey):
        key = HsmRsaPrivateKey(token, uri, public)
    else:
        key = HsmEcPrivateKey(token, uri, public)
    key._handle = private
    return key


def _wrap_ed25519(token: Pkcs11Token, uri: Pkcs11Uri, private: Any) -> HsmEd25519PrivateKey:
    from pkcs11 import Attribute, KeyType, ObjectClass

    if private.key_type != KeyType.EC_EDWARDS:
        raise KeyUnavailable(f"key {uri} is not an Ed25519 key")
    point = bytes(_find(token, uri, ObjectClass.PUBLIC_KEY)[Attribute.EC_POINT])
    # CKA_EC_POINT of an Edwards key: the 32 bytes in a DER OCTET STRING (PKCS#11 3.0; SoftHSM2), or bare.
    raw = point[2:] if len(point) == 34 and point[:2] == b"\x04\x20" else point
    try:
        public = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise KeyUnavailable(f"the token's public key of {uri} is not an Ed25519 point") from None
    key = HsmEd25519PrivateKey(token, uri, public)
    key._handle = private
    return key


class Pkcs11KeyStore:
    """Generates, finds and destroys seal keys in PKCS#11 tokens reachable through one module and PIN."""

    def __init__(self, config: Pkcs11Config) -> None:
        self.config = config

    def token(self, label: str | None = None) -> Pkcs11Token:
        """The logged-in session of token ``label`` (default: the configured token for new keys)."""
        return open_token(self.config.module, label or self.config.token, self.config.pin())

    def generate(self, name: str, algorithm: KeyAlgorithm) -> tuple[str, HsmPrivateKey]:
        """Generate a non-extractable, sensitive signing key pair labelled ``name``; returns (reference, key)."""
        from pkcs11 import Attribute, KeyType, MechanismFlag
        from pkcs11 import exceptions as p11e
        from pkcs11.util.ec import encode_named_curve_parameters

        token = self.token()
        uri = Pkcs11Uri(token=token.label, label=name, key_id=secrets.token_bytes(8))
        private_template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
        }
        public_template = {Attribute.TOKEN: True, Attribute.VERIFY: True}
        common = {
            "store": True,
            "label": name,
            "id": uri.key_id,
            "capabilities": MechanismFlag.SIGN | MechanismFlag.VERIFY,
            "public_template": public_template,
            "private_template": private_template,
        }
        with token.lock:
            try:
                if algorithm is KeyAlgorithm.RSA_3072:
                    _pub, private = token.session.generate_keypair(KeyType.RSA, 3072, **common)
                else:
                    params = token.session.create_domain_parameters(
                        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
                    )
                    _pub, private = params.generate_keypair(**common)
            except p11e.PKCS11Error as exc:
                reason = type(exc).__name__
                raise KeyUnavailable(f"the token {token.label!r} refused to generate a key: {reason}") from exc
            return str(uri), _wrap(token, uri, private)

    def generate_ed25519(self, name: str) -> tuple[str, HsmEd25519PrivateKey]:
        """Generate a non-extractable, sensitive Ed25519 key pair labelled ``name`` (CKM_EC_EDWARDS_KEY_PAIR_GEN);
        returns (reference, key). Raises :class:`KeyUnavailable` when the token cannot make Ed25519 keys."""
        from pkcs11 import Attribute, KeyType, Mechanism
        from pkcs11 import exceptions as p11e
        from pkcs11.util.ec import encode_named_curve_parameters

        token = self.token()
        uri = Pkcs11Uri(token=token.label, label=name, key_id=secrets.token_bytes(8))
        with token.lock:
            try:
                params = token.session.create_domain_parameters(
                    KeyType.EC_EDWARDS, {Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)}, local=True
                )
                _pub, private = params.generate_keypair(
                    mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                    store=True,
                    label=name,
                    id=uri.key_id,
                    public_template={Attribute.TOKEN: True, Attribute.VERIFY: True},
                    private_template={
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.SIGN: True,
                    },
                )
            except p11e.PKCS11Error as exc:
                reason = type(exc).__name__
                raise KeyUnavailable(f"the token {token.label!r} refused to generate an Ed25519 key: {reason}") from exc
            return str(uri), _wrap_ed25519(token, uri, private)

    def load_ed25519(self, ref: str) -> HsmEd25519PrivateKey:
        """The Ed25519 key behind ``ref`` (the private key stays in the token)."""
        uri = Pkcs11Uri.parse(ref)
        token = self.token(uri.token)
        with token.lock:
            return _wrap_ed25519(token, uri, _find_private(token, uri))

    def load(self, ref: str) -> HsmPrivateKey:
        """The key behind ``ref`` (the private key stays in the token)."""
        uri = Pkcs11Uri.parse(ref)
        token = self.token(uri.token)
        with token.lock:
            return _wrap(token, uri, _find_private(token, uri))

    def describe(self, ref: str) -> dict[str, object]:
        """What the token says about the key behind ``ref``: CKA_LOCAL (generated in the token), CKA_SENSITIVE,
        CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, key type and size. Evidence for a ceremony."""
        from pkcs11 import Attribute

        uri = Pkcs11Uri.parse(ref)
        token = self.token(uri.token)
        with token.lock:
            private = _find_private(token, uri)
            facts: dict[str, object] = {"token": uri.token, "label": private.label, "id": private.id.hex()}
            for name, attribute in (
                ("local", Attribute.LOCAL),
                ("sensitive", Attribute.SENSITIVE),
                ("extractable", Attribute.EXTRACTABLE),
                ("never_extractable", Attribute.NEVER_EXTRACTABLE),
                ("always_sensitive", Attribute.ALWAYS_SENSITIVE),
                ("sign", Attribute.SIGN),
                ("decrypt", Attribute.DECRYPT),
            ):
                try:
                    facts[name] = bool(private[attribute])
                except Exception:  # an attribute the token does not report
                    facts[name] = None
            key = _wrap(token, uri, private)
        facts["key_type"] = "EC" if isinstance(key, HsmEcPrivateKey) else "RSA"
        facts["key_size"] = key.key_size
        return facts

    def exists(self, ref: str) -> bool:
        """True when the token holds the private key behind ``ref``."""
        try:
            self.load(ref)
        except KeyUnavailable:
            return False
        return True

    def destroy(self, ref: str) -> None:
        """Destroy the key pair behind ``ref`` in the token (retiring a key; irreversible)."""
        from pkcs11 import Attribute, ObjectClass

        uri = Pkcs11Uri.parse(ref)
        token = self.token(uri.token)
        with token.lock:
            query: dict[Any, Any] = {}
            if uri.label is not None:
                query[Attribute.LABEL] = uri.label
            if uri.key_id is not None:
                query[Attribute.ID] = uri.key_id
            for obj in list(token.session.get_objects(query)):
                if obj.object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY):
                    obj.destroy()
