"""verifier.tlog: RFC 9162 hashing and proofs against the transparency-dev/merkle probes, and the C2SP formats.

Vectors: ``tests/vectors/tlog/transparency-dev-merkle.json`` (its ``provenance`` says where each probe came from).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verifier import tlog

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "tlog" / "transparency-dev-merkle.json").read_text())

#: The RFC 6962 test tree of certificate-transparency (also transparency-dev/merkle's test tree).
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]


def _b(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _proof(value: list[str] | None) -> list[bytes]:
    return [_b(v) for v in value or []]


def test_rfc6962_hashes() -> None:
    # transparency-dev/merkle rfc6962/rfc6962_test.go: empty, empty leaf, leaf "L123456", node "N123"/"N456".
    assert tlog.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert tlog.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert tlog.leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert tlog.node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"


def test_root_of_the_rfc6962_tree_matches_the_vectors() -> None:
    hashes = [tlog.leaf_hash(x) for x in RFC6962_LEAVES]
    happy = next(p for p in VECTORS["consistency"] if p["desc"] == "happy path" and p["size2"] == 8)
    assert tlog.root_of(hashes) == _b(happy["root2"])
    assert tlog.root_of(hashes[: happy["size1"]]) == _b(happy["root1"])


@pytest.mark.parametrize("probe", VECTORS["inclusion"], ids=lambda p: p["file"])
def test_inclusion_probes(probe: dict[str, object]) -> None:
    def check() -> None:
        tlog.verify_inclusion(
            index=int(probe["leafIdx"]),  # type: ignore[call-overload]
            size=int(probe["treeSize"]),  # type: ignore[call-overload]
            leaf=_b(probe["leafHash"]),  # type: ignore[arg-type]
            proof=_proof(probe["proof"]),  # type: ignore[arg-type]
            root=_b(probe["root"]),  # type: ignore[arg-type]
        )

    if probe["wantErr"]:
        with pytest.raises(tlog.ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("probe", VECTORS["consistency"], ids=lambda p: p["file"])
def test_consistency_probes(probe: dict[str, object]) -> None:
    def check() -> None:
        tlog.verify_consistency(
            old_size=int(probe["size1"]),  # type: ignore[call-overload]
            new_size=int(probe["size2"]),  # type: ignore[call-overload]
            old_root=_b(probe["root1"]),  # type: ignore[arg-type]
            new_root=_b(probe["root2"]),  # type: ignore[arg-type]
            proof=_proof(probe["proof"]),  # type: ignore[arg-type]
        )

    if probe["wantErr"]:
        with pytest.raises(tlog.ProofError):
            check()
    else:
        check()


def test_our_proofs_equal_the_vectors_and_verify_for_every_size() -> None:
    hashes = [tlog.leaf_hash(x) for x in RFC6962_LEAVES]

    def subtree(a: int, b: int) -> bytes:
        return tlog.root_of(hashes[a:b])

    for probe in VECTORS["inclusion"]:
        if not probe["wantErr"] and probe["desc"] == "happy path" and probe["treeSize"] <= 8 and probe["proof"]:
            got = tlog.inclusion_proof(probe["leafIdx"], probe["treeSize"], subtree)
            assert got == _proof(probe["proof"]), probe["file"]
    for probe in VECTORS["consistency"]:
        if not probe["wantErr"] and probe["desc"] == "happy path" and probe["size2"] <= 8:
            assert tlog.consistency_proof(probe["size1"], probe["size2"], subtree) == _proof(probe["proof"])
    leaves = [tlog.leaf_hash(i.to_bytes(4, "big")) for i in range(70)]
    for size in range(1, 71):
        root = tlog.root_of(leaves[:size])
        for index in range(size):
            proof = tlog.inclusion_proof(index, size, lambda a, b: tlog.root_of(leaves[a:b]))
            tlog.verify_inclusion(index=index, size=size, leaf=leaves[index], proof=proof, root=root)
        for old in range(1, size + 1):
            proof = tlog.consistency_proof(old, size, lambda a, b: tlog.root_of(leaves[a:b]))
            tlog.verify_consistency(
                old_size=old, new_size=size, old_root=tlog.root_of(leaves[:old]), new_root=root, proof=proof
            )


def test_tile_paths_follow_the_spec_example() -> None:
    assert tlog.tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tlog.tile_path(1, 5, 17) == "tile/1/005.p/17"
    assert tlog.entries_path(0, 3) == "tile/entries/000.p/3"
    assert tlog.parse_tile_path("tile/0/x001/x234/067") == tlog.TileRef(level=0, n=1234067, width=256)
    assert tlog.parse_tile_path("tile/entries/000.p/3") == tlog.TileRef(level=-1, n=0, width=3)
    for bad in ("tile/0/1", "tile/0/x000/001", "tile/0/001.p/256", "tile/0/001.p/0", "tile/64/001", "tile/00/001"):
        with pytest.raises(tlog.NoteError):
            tlog.parse_tile_path(bad)
    # The spec's example: a tree of 70,000 leaves.
    size = 70_000
    assert [tlog.tile_width(0, n, size) for n in (272, 273, 274)] == [256, 112, 0]
    assert [tlog.tile_width(1, n, size) for n in (0, 1, 2)] == [256, 17, 0]
    assert [tlog.tile_width(2, n, size) for n in (0, 1)] == [1, 0]


def test_tile_reader_gives_the_same_hashes_as_the_tree() -> None:
    size = 256 * 3 + 7
    leaves = [tlog.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    level1 = [tlog.root_of(leaves[i * 256 : (i + 1) * 256]) for i in range(3)]

    def fetch(level: int, n: int, width: int) -> bytes:
        source = leaves if level == 0 else level1
        return b"".join(source[n * 256 : n * 256 + width])

    reader = tlog.TileHashReader(size, fetch)
    assert reader.root() == tlog.root_of(leaves)
    for a, b in ((0, 1), (3, 500), (256, 512), (0, 512), (700, size), (512, 768)):
        assert reader.subtree(a, b) == tlog.root_of(leaves[a:b])
    proof = tlog.inclusion_proof(600, size, reader.subtree)
    tlog.verify_inclusion(index=600, size=size, leaf=leaves[600], proof=proof, root=reader.root())


def _key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"test log key").digest())


def test_signed_checkpoint_round_trip_and_vkey() -> None:
    key = _key()
    verifier = tlog.verifier_for("example.gov.cn/log", key)
    assert tlog.parse_vkey(verifier.vkey) == verifier
    checkpoint = tlog.Checkpoint("example.gov.cn/log", 3, hashlib.sha256(b"x").digest())
    note = tlog.Note(checkpoint.text, (tlog.sign_note(checkpoint.text, "example.gov.cn/log", key),))
    opened = tlog.open_checkpoint(note.encode(), log_key=verifier)
    assert opened.checkpoint == checkpoint
    assert note.encode().decode().splitlines()[4].startswith("\u2014 example.gov.cn/log ")


def test_checkpoint_signed_by_another_key_is_refused() -> None:
    other = Ed25519PrivateKey.generate()
    checkpoint = tlog.Checkpoint("example.gov.cn/log", 3, hashlib.sha256(b"x").digest())
    note = tlog.Note(checkpoint.text, (tlog.sign_note(checkpoint.text, "example.gov.cn/log", other),))
    with pytest.raises(tlog.NoteError, match="not signed by a known key"):
        tlog.open_checkpoint(note.encode(), log_key=tlog.verifier_for("example.gov.cn/log", _key()))


def test_altered_checkpoint_text_fails_the_signature() -> None:
    key = _key()
    checkpoint = tlog.Checkpoint("example.gov.cn/log", 3, hashlib.sha256(b"x").digest())
    note = tlog.Note(checkpoint.text, (tlog.sign_note(checkpoint.text, "example.gov.cn/log", key),))
    forged = note.encode().replace(b"\n3\n", b"\n4\n")
    with pytest.raises(tlog.NoteError, match="does not verify"):
        tlog.open_checkpoint(forged, log_key=tlog.verifier_for("example.gov.cn/log", key))


@pytest.mark.parametrize(
    "data",
    [b"no signatures\n", b"a\n1\nAA==\n\n- a AAAA\n", b"a\x01\n\n\xe2\x80\x94 a AAAAAAA=\n", b"\xff\n\n"],
)
def test_malformed_notes_are_refused(data: bytes) -> None:
    with pytest.raises(tlog.NoteError):
        tlog.parse_note(data)


@pytest.mark.parametrize("text", ["o\n01\n" + "A" * 43 + "=\n", "o o\n1\n" + "A" * 43 + "=\n", "o\n1\nAAAA\n"])
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(tlog.NoteError):
        tlog.parse_checkpoint(text)


def test_cosignatures_k_of_n() -> None:
    key = _key()
    log = tlog.verifier_for("example.gov.cn/log", key)
    checkpoint = tlog.Checkpoint("example.gov.cn/log", 3, hashlib.sha256(b"x").digest())
    w1, w2, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    witnesses = [tlog.verifier_for(n, k, sig_type=tlog.SIG_COSIGNATURE_ED25519) for n, k in (("w1", w1), ("w2", w2))]
    note = tlog.Note(
        checkpoint.text,
        (
            tlog.sign_note(checkpoint.text, log.name, key),
            tlog.sign_cosignature(checkpoint.text, "w1", w1, timestamp=1_700_000_000),
            tlog.sign_cosignature(checkpoint.text, "w3", stranger, timestamp=1_700_000_000),
        ),
    )
    opened = tlog.open_checkpoint(note.encode(), log_key=log, witnesses=witnesses, quorum=1)
    assert opened.cosignatures == (tlog.Cosignature("w1", 1_700_000_000),)
    with pytest.raises(tlog.CosignatureError, match=r"requires 2; signatures by unknown keys ignored: w3"):
        tlog.open_checkpoint(note.encode(), log_key=log, witnesses=witnesses, quorum=2)
    # A known witness whose cosignature is over another time (or checkpoint) is refused outright.
    bad = tlog.sign_cosignature(checkpoint.text, "w2", w2, timestamp=5)
    tampered = tlog.NoteSignature("w2", bad.key_id, (6).to_bytes(8, "big") + bad.signature[8:])
    with pytest.raises(tlog.CosignatureError, match="witness w2 does not verify"):
        tlog.open_checkpoint(note.with_signatures([tampered]).encode(), log_key=log, witnesses=witnesses, quorum=1)


def test_tlog_proof_round_trip_and_strictness() -> None:
    proof = tlog.TlogProof(index=5, proof=(b"\x01" * 32, b"\x02" * 32), checkpoint=b"o\n1\nX\n\n", extra=b"leaf")
    data = proof.encode()
    assert data.startswith(b"c2sp.org/tlog-proof@v1\nextra bGVhZg==\nindex 5\n")
    assert tlog.parse_tlog_proof(data) == proof
    for bad in (data.replace(b"index 5", b"index 05"), data.replace(b"@v1", b"@v2"), data.replace(b"\n\n", b"\n")):
        with pytest.raises(tlog.NoteError):
            tlog.parse_tlog_proof(bad)


def test_entry_bundles() -> None:
    bundle = tlog.encode_entry_bundle([b"a", b"", b"xyz"])
    assert bundle == b"\x00\x01a\x00\x00\x00\x03xyz"
    assert tlog.decode_entry_bundle(bundle) == [b"a", b"", b"xyz"]
    with pytest.raises(tlog.NoteError):
        tlog.decode_entry_bundle(bundle[:-1])
