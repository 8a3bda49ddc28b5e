"""Transparency-log checks as pure functions: RFC 9162 hashing and proofs, C2SP signed notes, checkpoints,
cosignatures, tiles and offline proofs.

Example::

    >>> from verifier.tlog import leaf_hash, root_of, inclusion_proof, verify_inclusion
    >>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
    >>> root = root_of(leaves)
    >>> proof = inclusion_proof(3, 5, lambda a, b: root_of(leaves[a:b]))
    >>> verify_inclusion(index=3, size=5, leaf=leaves[3], proof=proof, root=root)   # raises ProofError if not

Everything here is written from the specifications, not copied: RFC 9162 §2.1 (hashes, PATH/SUBPROOF and the
verification algorithms of §2.1.3.2 and §2.1.4.2), C2SP ``signed-note``, ``tlog-checkpoint``, ``tlog-tiles``,
``tlog-cosignature`` (Ed25519, type 0x04) and ``tlog-proof``. The service (``seal_service.log``), ``seal-verify``
and ``seal-monitor`` all use these functions; none of them does its own hashing. Checks raise (a subclass of
:class:`TlogError`); they never return a bare bool.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HASH_SIZE = 32
#: MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()
#: Signature types of C2SP signed-note.
SIG_ED25519 = 0x01
SIG_COSIGNATURE_ED25519 = 0x04
#: Hashes per full tile (C2SP tlog-tiles: tile height 8).
TILE_WIDTH = 256
TILE_HEIGHT = 8
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
#: A verifier accepts at least this many signature lines on a note (signed-note); more is refused.
MAX_NOTE_SIGNATURES = 100


class TlogError(Exception):
    """Root of the log-check errors; ``str(error)`` is a sentence for people."""


class ProofError(TlogError):
    """An inclusion or consistency proof does not verify."""


class NoteError(TlogError):
    """A signed note, checkpoint or offline proof is malformed, or its signatures do not verify."""


class CosignatureError(NoteError):
    """The witness policy is not met, or a known witness's cosignature is bad."""


# ---------------------------------------------------------------------------------------------- hashing (RFC 9162)


def leaf_hash(entry: bytes) -> bytes:
    """MTH of one entry: ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH over already-hashed leaves (or over aligned subtree roots of one size): RFC 9162 §2.1.1."""
    if not hashes:
        return EMPTY_ROOT
    # Bottom-up: pair off left to right; an odd last node is carried up unchanged, which gives the same tree as
    # the recursive definition's split at the largest power of two.
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


SubtreeHash = Callable[[int, int], bytes]
"""``subtree(start, end)`` returns MTH(D[start:end]); proofs only ask for ranges that occur in the tree."""


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf sibling first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    path: list[bytes] = []

    def walk(m: int, start: int, end: int) -> None:
        if end - start <= 1:
            return
        k = _split(end - start)
        if m < k:
            walk(m, start, start + k)
            path.append(subtree(start + k, end))
        else:
            walk(m - k, start + k, end)
            path.append(subtree(start, start + k))

    walk(index, 0, size)
    return path


def consistency_proof(old_size: int, new_size: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) of RFC 9162 §2.1.4.1 (empty when the sizes are equal or old is 0)."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []

    def walk(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                path.append(subtree(start, end))
            return
        k = _split(n)
        if m <= k:
            walk(m, start, start + k, whole)
            path.append(subtree(start + k, end))
        else:
            walk(m - k, start + k, end, False)
            path.append(subtree(start, start + k))

    walk(old_size, 0, new_size, True)
    return path


def _check_hashes(proof: Sequence[bytes], what: str) -> None:
    for item in proof:
        if len(item) != HASH_SIZE:
            raise ProofError(f"{what} holds a hash of {len(item)} bytes instead of {HASH_SIZE}")


def root_from_inclusion(*, index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1-3); raises when it cannot be one."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hashes([leaf, *proof], "the inclusion proof")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(*, index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` (a leaf hash) is entry ``index`` of the tree of ``size`` with ``root``."""
    if root_from_inclusion(index=index, size=size, leaf=leaf, proof=proof) != root:
        raise ProofError(f"entry {index} is not in the tree of size {size} with that root (inclusion proof fails)")


def verify_consistency(
    *, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``old_size`` is a prefix of the tree of ``new_size`` (RFC 9162 §2.1.4.2)."""
    if new_size < old_size:
        raise ProofError(f"the log shrank from size {old_size} to {new_size}")
    _check_hashes(proof, "the consistency proof")
    if old_size == 0:
        # RFC 9162 defines consistency proofs for 0 < old < new only; a client that knows no tree yet has
        # nothing to check and must not call this.
        raise ProofError("there is no consistency proof from the empty tree")
    if old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}: the log forked")
        return
    _check_hashes([old_root, new_root], "a root of the consistency check")
    if not proof:
        raise ProofError("the consistency proof is empty")
    # (2) when the old size is a power of two, the old root is the first node of the path.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # (3)-(4)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # (5)-(6)
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the trees are deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # (7)
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the trees are deep")
    if fr != old_root:
        raise ProofError(f"the tree of size {old_size} is not a prefix of the tree of size {new_size} (old root)")
    if sr != new_root:
        raise ProofError(f"the tree of size {old_size} is not a prefix of the tree of size {new_size} (new root)")


# ------------------------------------------------------------------------------------------------ tiles (tlog-tiles)


def _index_path(n: int) -> str:
    groups = []
    while True:
        groups.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join([f"x{g:03d}" for g in groups[:-1]] + [f"{groups[-1]:03d}"])


def tile_width(level: int, n: int, size: int) -> int:
    """Hashes in tile ``n`` of ``level`` for a tree of ``size`` (256 when full; 0 when it does not exist yet)."""
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - n * TILE_WIDTH))


def tile_path(level: int, n: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]`` (C2SP tlog-tiles); ``width`` below 256 names a partial tile."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{_index_path(n)}{suffix}"


def entries_path(n: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]``: the entry bundle beside level-0 tile ``n``."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/entries/{_index_path(n)}{suffix}"


_TILE_PATH = re.compile(r"^tile/(entries|\d{1,2})/((?:x\d{3}/)*\d{3})(?:\.p/(\d{1,3}))?$")


@dataclass(frozen=True)
class TileRef:
    """A parsed tile path."""

    level: int
    """Tile level, or -1 for an entry bundle."""
    n: int
    width: int


def parse_tile_path(path: str) -> TileRef:
    """Parse ``tile/...`` strictly (no leading zeros beyond the 3-digit groups, width 1-255 for partial tiles)."""
    match = _TILE_PATH.match(path)
    if match is None:
        raise NoteError(f"not a tile path: {path!r}")
    level_text, index_text, width_text = match.groups()
    groups = index_text.split("/")
    if len(groups) > 1 and groups[0] == "x000":
        raise NoteError(f"not a canonical tile path: {path!r}")
    n = int("".join(g.lstrip("x") for g in groups))
    level = -1 if level_text == "entries" else int(level_text)
    if level > 63 or (level_text != "entries" and level_text != str(level)):
        raise NoteError(f"bad tile level in {path!r}")
    width = TILE_WIDTH
    if width_text is not None:
        width = int(width_text)
        if not 1 <= width < TILE_WIDTH or width_text != str(width):
            raise NoteError(f"bad partial tile width in {path!r}")
    return TileRef(level=level, n=n, width=width)


def encode_entry_bundle(entries: Iterable[bytes]) -> bytes:
    """An entry bundle: each entry as big-endian uint16 length then its bytes."""
    out = bytearray()
    for entry in entries:
        if len(entry) > 0xFFFF:
            raise ValueError("a log entry is longer than 65535 bytes")
        out += struct.pack(">H", len(entry)) + entry
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """The entries of an entry bundle; raises :class:`NoteError` on a truncated bundle."""
    entries, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise NoteError("truncated entry bundle")
        (length,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if pos + length > len(data):
            raise NoteError("truncated entry bundle")
        entries.append(data[pos : pos + length])
        pos += length
    return entries


TileFetch = Callable[[int, int, int], bytes]
"""``fetch(level, n, width)`` returns the ``width * 32`` bytes of that tile (from a file, URL or database)."""


class TileHashReader:
    """Hashes of a tree of a given size read from its tiles, with the tiles it read kept (one reader per size).

    ``subtree(start, end)`` is what :func:`inclusion_proof` and :func:`consistency_proof` need.
    """

    def __init__(self, size: int, fetch: TileFetch) -> None:
        self.size = size
        self._fetch = fetch
        self._tiles: dict[tuple[int, int], bytes] = {}

    def _tile(self, level: int, n: int) -> bytes:
        key = (level, n)
        tile = self._tiles.get(key)
        if tile is None:
            width = tile_width(level, n, self.size)
            if width == 0:
                raise ProofError(f"tile {level}/{n} does not exist in a tree of size {self.size}")
            tile = self._fetch(level, n, width)
            if len(tile) != width * HASH_SIZE:
                raise ProofError(f"tile {tile_path(level, n, width)} has {len(tile)} bytes, not {width * HASH_SIZE}")
            self._tiles[key] = tile
        return tile

    def _stored(self, level: int, index: int) -> bytes:
        tile = self._tile(level, index // TILE_WIDTH)
        offset = (index % TILE_WIDTH) * HASH_SIZE
        return tile[offset : offset + HASH_SIZE]

    def node(self, height: int, index: int) -> bytes:
        """The root of the perfect subtree of 2**height leaves starting at leaf ``index * 2**height``."""
        level, rest = divmod(height, TILE_HEIGHT)
        first = index << rest
        if rest == 0:
            return self._stored(level, first)
        # The 2**rest stored hashes lie in one tile (the block is aligned): slice them from the tile's bytes and
        # pair them off level by level, with no per-hash lookups (a cold proof re-hashes up to 247 per tile).
        tile = self._tile(level, first // TILE_WIDTH)
        offset = (first % TILE_WIDTH) * HASH_SIZE
        end = offset + (HASH_SIZE << rest)
        if len(tile) < end:
            raise ProofError(f"tile {level}/{first // TILE_WIDTH} does not hold the hashes of node {height}/{index}")
        sha256 = hashlib.sha256
        nodes = [tile[i : i + HASH_SIZE] for i in range(offset, end, HASH_SIZE)]
        while len(nodes) > 1:
            nodes = [sha256(b"\x01" + nodes[i] + nodes[i + 1]).digest() for i in range(0, len(nodes), 2)]
        return nodes[0]

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for ``0 <= start < end <= size``."""
        if not 0 <= start < end <= self.size:
            raise ProofError(f"range [{start}, {end}) is outside a tree of size {self.size}")
        n = end - start
        if n & (n - 1) == 0 and start % n == 0:
            height = n.bit_length() - 1
            return self.node(height, start >> height)
        k = _split(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self) -> bytes:
        """MTH of the whole tree."""
        return EMPTY_ROOT if self.size == 0 else self.subtree(0, self.size)


# -------------------------------------------------------------------------------------- signed notes (signed-note)


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise NoteError(f"{what} is not valid base64") from None


def key_id(name: str, sig_type: int, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _check_key_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise NoteError(f"bad key name {name!r}: non-empty, printable, no spaces or '+'")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 public key of a log (type 0x01) or a witness (type 0x04)."""

    name: str
    sig_type: int
    public_key: bytes
    """The raw 32-byte Ed25519 public key."""

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        if self.sig_type not in (SIG_ED25519, SIG_COSIGNATURE_ED25519) or len(self.public_key) != 32:
            raise NoteError(f"key {self.name}: only Ed25519 keys (type 0x01 or 0x04) of 32 bytes are supported")

    @property
    def key_id(self) -> int:
        """The 4-byte key id that signature lines carry."""
        return key_id(self.name, self.sig_type, self.public_key)

    @property
    def vkey(self) -> str:
        """``name+hexid+base64(type || key)``: the verifier key text (signed-note)."""
        blob = base64.b64encode(bytes([self.sig_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{blob}"

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise :class:`NoteError` unless ``signature`` is this key's over ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            raise NoteError(f"the signature of {self.name} does not verify") from None


def parse_vkey(text: str, *, sig_type: int | None = None) -> NoteVerifier:
    """Parse a verifier key ``name+hexid+base64(type || key)``; the id must match the key."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise NoteError(f"not a verifier key (name+hexid+base64): {text.strip()[:80]!r}")
    name, hex_id, blob_text = parts
    blob = _b64decode(blob_text, "the verifier key")
    if not blob:
        raise NoteError("the verifier key holds no key")
    if sig_type is not None and blob[0] != sig_type:
        raise NoteError(f"verifier key {name} has type 0x{blob[0]:02x}, expected 0x{sig_type:02x}")
    verifier = NoteVerifier(name=name, sig_type=blob[0], public_key=blob[1:])
    if verifier.key_id != int(hex_id, 16):
        raise NoteError(f"verifier key {name}: the key id {hex_id} does not match the key")
    return verifier


def verifier_for(name: str, key: Ed25519PublicKey | Ed25519PrivateKey, *, sig_type: int = SIG_ED25519) -> NoteVerifier:
    """The :class:`NoteVerifier` of an Ed25519 key under ``name``."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return NoteVerifier(name=name, sig_type=sig_type, public_key=_raw_public(public))


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: ``— name base64(key id || signature)``."""

    name: str
    key_id: int
    signature: bytes

    @property
    def line(self) -> str:
        """The line as written in the note, with its final newline."""
        blob = base64.b64encode(self.key_id.to_bytes(4, "big") + self.signature).decode()
        return f"\u2014 {self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    """A signed note: its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> bytes:
        """The note as bytes: text, a blank line, signature lines."""
        return (self.text + "\n" + "".join(s.line for s in self.signatures)).encode()

    def with_signatures(self, extra: Iterable[NoteSignature]) -> Note:
        """This note with ``extra`` signatures appended (duplicates of present lines dropped)."""
        have = set(self.signatures)
        more = tuple(s for s in extra if s not in have)
        return Note(self.text, self.signatures + more)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("the note text does not end in a newline")
    if any((ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F for c in text):
        raise NoteError("the note text holds control characters")


def parse_note(data: bytes | str) -> Note:
    """Parse a signed note strictly (UTF-8, no control characters but newlines, well-formed signature lines)."""
    try:
        message = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise NoteError("the note is not valid UTF-8") from None
    split = message.rfind("\n\n")
    if split < 0:
        raise NoteError("the note has no blank line before its signatures")
    text, block = message[: split + 1], message[split + 2 :]
    _check_text(text)
    if not block.endswith("\n"):
        raise NoteError("the note's signature block does not end in a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in block):
        raise NoteError("the note's signatures hold control characters")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_NOTE_SIGNATURES:
        raise NoteError(f"the note has more than {MAX_NOTE_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        match = re.fullmatch(r"\u2014 (\S+) (\S+)", line)
        if match is None:
            raise NoteError(f"malformed signature line {line[:60]!r}")
        blob = _b64decode(match.group(2), f"the signature of {match.group(1)}")
        if len(blob) < 5:
            raise NoteError(f"the signature of {match.group(1)} is too short")
        signatures.append(NoteSignature(match.group(1), int.from_bytes(blob[:4], "big"), blob[4:]))
    return Note(text=text, signatures=tuple(signatures))


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> NoteSignature:
    """The Ed25519 (type 0x01) signature line of ``name`` over the note text."""
    _check_text(text)
    verifier = verifier_for(name, key)
    return NoteSignature(name, verifier.key_id, key.sign(text.encode()))


def verify_note(note: Note, verifiers: Sequence[NoteVerifier]) -> tuple[NoteVerifier, ...]:
    """The known type-0x01 keys whose signatures verify; raises if a known key's signature is bad or none verifies.

    Signatures by unknown keys (and cosignatures, checked by :func:`verify_cosignatures`) are ignored.
    """
    known = {(v.name, v.key_id): v for v in verifiers if v.sig_type == SIG_ED25519}
    good: list[NoteVerifier] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        verifier.verify(note.text.encode(), sig.signature)
        good.append(verifier)
    if not good:
        names = ", ".join(sorted({v.name for v in known.values()})) or "none"
        raise NoteError(f"the note is not signed by a known key (known: {names})")
    return tuple(good)


# ---------------------------------------------------------------------------------- checkpoints (tlog-checkpoint)


@dataclass(frozen=True)
class Checkpoint:
    """The body of a checkpoint note."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body strictly (no leading zeros, a 32-byte root, an origin without spaces)."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has at least three lines: origin, size, root hash")
    origin, size_text, root_text, *extensions = lines
    if not origin or any(c.isspace() for c in origin) or "+" in origin:
        raise NoteError(f"bad checkpoint origin {origin!r}")
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_text) or int(size_text) >= 1 << 63:
        raise NoteError(f"bad checkpoint tree size {size_text!r}")
    root = _b64decode(root_text, "the checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise NoteError(f"the checkpoint root hash has {len(root)} bytes, not {HASH_SIZE}")
    if any(not line for line in extensions):
        raise NoteError("a checkpoint extension line is empty")
    return Checkpoint(origin=origin, size=int(size_text), root=root, extensions=tuple(extensions))


# ---------------------------------------------------------------------------------- cosignatures (tlog-cosignature)


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """What a type-0x04 cosignature signs: ``cosignature/v1``, ``time T`` and the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{checkpoint_text}".encode()


def sign_cosignature(checkpoint_text: str, name: str, key: Ed25519PrivateKey, *, timestamp: int) -> NoteSignature:
    """A witness's cosignature line (type 0x04) on a checkpoint body at ``timestamp`` (Unix seconds)."""
    verifier = verifier_for(name, key, sig_type=SIG_COSIGNATURE_ED25519)
    sig = key.sign(cosignature_message(checkpoint_text, timestamp))
    return NoteSignature(name, verifier.key_id, struct.pack(">Q", timestamp) + sig)


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: which witness, and the time it claims."""

    witness: str
    timestamp: int


def verify_cosignatures(
    note: Note, witnesses: Sequence[NoteVerifier], *, quorum: int, log_key: NoteVerifier | None = None
) -> tuple[Cosignature, ...]:
    """The valid cosignatures of known witnesses; raises unless at least ``quorum`` distinct witnesses cosigned.

    A known witness's bad cosignature is an error (signed-note: SHOULD reject); unknown witnesses are ignored,
    but a policy that requires witnesses reports them by name when too few known ones signed.
    """
    known = {(w.name, w.key_id): w for w in witnesses if w.sig_type == SIG_COSIGNATURE_ED25519}
    found: dict[str, Cosignature] = {}
    unknown: list[str] = []
    for sig in note.signatures:
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            if log_key is None or (sig.name, sig.key_id) != (log_key.name, log_key.key_id):
                unknown.append(sig.name)
            continue
        if len(sig.signature) != 8 + 64:
            raise CosignatureError(f"the cosignature of witness {witness.name} has the wrong length")
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        try:
            witness.verify(cosignature_message(note.text, timestamp), sig.signature[8:])
        except NoteError:
            raise CosignatureError(f"the cosignature of witness {witness.name} does not verify") from None
        found[witness.name] = Cosignature(witness=witness.name, timestamp=timestamp)
    if len(found) < quorum:
        extra = f"; signatures by unknown keys ignored: {', '.join(unknown)}" if unknown else ""
        raise CosignatureError(
            f"the checkpoint has {len(found)} valid cosignature(s) of known witnesses, the policy requires {quorum}"
            + extra
        )
    return tuple(found.values())


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint whose log signature (and witness policy) verified."""

    checkpoint: Checkpoint
    note: Note
    cosignatures: tuple[Cosignature, ...] = ()


def open_checkpoint(
    data: bytes | str,
    *,
    log_key: NoteVerifier,
    witnesses: Sequence[NoteVerifier] = (),
    quorum: int = 0,
) -> SignedCheckpoint:
    """Parse and verify a checkpoint note: (1) signed by the log key, (2) origin is the key's name, (3) k of n."""
    note = parse_note(data)
    # (1) the log's signature; any other type-0x01 signature is ignored.
    verify_note(note, [log_key])
    checkpoint = parse_checkpoint(note.text)
    # (2) the log key's name is the origin: a checkpoint of another log signed by a look-alike name fails here.
    if checkpoint.origin != log_key.name:
        raise NoteError(f"the checkpoint is for log {checkpoint.origin!r}, not {log_key.name!r}")
    # (3) the witness policy.
    cosignatures = verify_cosignatures(note, witnesses, quorum=quorum, log_key=log_key) if (witnesses or quorum) else ()
    return SignedCheckpoint(checkpoint=checkpoint, note=note, cosignatures=cosignatures)


# -------------------------------------------------------------------------------------- offline proofs (tlog-proof)


@dataclass(frozen=True)
class TlogProof:
    """A ``c2sp.org/tlog-proof@v1`` file: entry index, inclusion proof, the checkpoint note, optional extra data."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    """The checkpoint note with its signature lines, verbatim."""
    extra: bytes | None = None

    def encode(self) -> bytes:
        """The file's bytes."""
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append("extra " + base64.b64encode(self.extra).decode())
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(h).decode() for h in self.proof]
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint


def parse_tlog_proof(data: bytes) -> TlogProof:
    """Parse a tlog-proof file strictly."""
    head, sep, checkpoint = data.partition(b"\n\n")
    if not sep:
        raise NoteError("the proof file has no blank line before its checkpoint")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise NoteError("the proof file's header is not ASCII") from None
    if lines[0] != TLOG_PROOF_HEADER:
        raise NoteError(f"not a {TLOG_PROOF_HEADER} file")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _b64decode(rest[0][6:], "the proof's extra data")
        rest = rest[1:]
    if not rest or not re.fullmatch(r"index (0|[1-9][0-9]{0,19})", rest[0]):
        raise NoteError("the proof file has no valid index line")
    index = int(rest[0][6:])
    proof = tuple(_b64decode(line, "an inclusion proof line") for line in rest[1:])
    _check_hashes(proof, "the inclusion proof")
    return TlogProof(index=index, proof=proof, checkpoint=checkpoint, extra=extra)


__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "SIG_COSIGNATURE_ED25519",
    "SIG_ED25519",
    "TILE_WIDTH",
    "Checkpoint",
    "Cosignature",
    "CosignatureError",
    "Note",
    "NoteError",
    "NoteSignature",
    "NoteVerifier",
    "ProofError",
    "SignedCheckpoint",
    "TileHashReader",
    "TileRef",
    "TlogError",
    "TlogProof",
    "consistency_proof",
    "cosignature_message",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "entries_path",
    "inclusion_proof",
    "key_id",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "parse_checkpoint",
    "parse_note",
    "parse_tile_path",
    "parse_tlog_proof",
    "parse_vkey",
    "root_from_inclusion",
    "root_of",
    "sign_cosignature",
    "sign_note",
    "tile_path",
    "tile_width",
    "verifier_for",
    "verify_consistency",
    "verify_cosignatures",
    "verify_inclusion",
    "verify_note",
]
