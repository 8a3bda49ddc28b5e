"""Loading trust roots: several certificates per PEM file, DER, and clear errors naming the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from verifier import InputError, load_trust_roots, parse_trust_roots

MakeRoot = Callable[[str], x509.Certificate]


def test_a_pem_file_may_hold_several_roots_and_other_blocks(tmp_path: Path, make_root: MakeRoot) -> None:
    first, second = make_root("Root One"), make_root("Root Two")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        b"# comment lines are fine\n"
        + first.public_bytes(serialization.Encoding.PEM)
        + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        + second.public_bytes(serialization.Encoding.PEM)
    )
    assert load_trust_roots([bundle]) == [first, second]


def test_several_files_and_der_are_accepted(tmp_path: Path, make_root: MakeRoot) -> None:
    first, second = make_root("Root One"), make_root("Root Two")
    (tmp_path / "a.pem").write_bytes(first.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "b.der").write_bytes(second.public_bytes(serialization.Encoding.DER))
    assert load_trust_roots([tmp_path / "a.pem", str(tmp_path / "b.der")]) == [first, second]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a certificate at all", "not a certificate file"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "no certificate in this PEM file"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cannot be read"),
        (b"", "not a certificate file"),
    ],
    ids=["text", "key-only", "broken-certificate", "empty"],
)
def test_a_bad_file_is_an_input_error_naming_it(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        load_trust_roots([bad])
    assert str(bad) in str(caught.value)


def test_a_missing_file_and_no_file_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.pem: cannot read trust root file"):
        load_trust_roots([tmp_path / "missing.pem"])
    with pytest.raises(InputError, match="at least one trust root"):
        load_trust_roots([])


def test_parse_trust_roots_reads_bytes(make_root: MakeRoot) -> None:
    root = make_root("Root In Memory")
    assert parse_trust_roots(root.public_bytes(serialization.Encoding.PEM)) == [root]
