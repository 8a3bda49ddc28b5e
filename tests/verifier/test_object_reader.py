"""The fast object reader (verifier/_object_reader.py) gives exactly what pyHanko's ``read_object`` gives.

Compared on every object of real documents (our licences at every level, pyHanko-signed certified documents, the
shadow-attack documents) and on thousands of mutated copies of those objects (bytes inserted, deleted, replaced,
the object cut short): the same classes, values, ``container_ref`` (set on values, not on keys), stream payloads,
the same position afterwards, or the same error.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.verifier.test_forgeries import Prepared, prepared  # noqa: F401  # the module-scoped fixture
from verifier import _object_reader

_OBJECT = re.compile(rb"(\d+) (\d+) obj\s*")
# Bytes that change how a PDF object reads: delimiters, whitespace (PDF's and Python's), escapes, digits, keywords.
_PALETTE = b" \n\r\t\x00\x0b\x0c%()<>[]{}/#\\0123456789.+-,Rtrufalsn\xe4"


@contextmanager
def _pyhanko_only() -> Iterator[None]:
    """pyHanko's reader throughout (its dictionary and array readers call ``generic.read_object`` for values)."""
    installed = generic.read_object
    generic.read_object = _object_reader._ORIGINAL
    try:
        yield
    finally:
        generic.read_object = installed


def _describe(obj: Any, container: Any, handler: Any) -> Any:
    """Everything about a read object that a caller could see, comparable with ``==``."""
    attrs = dict(vars(obj)) if hasattr(obj, "__dict__") else {}
    ref = attrs.pop("container_ref", None)
    where = "container" if ref is container else repr(ref)
    if isinstance(obj, generic.IndirectObject):
        attrs.pop("reference")
        value: Any = (obj.idnum, obj.generation, obj.reference.pdf is handler)
    elif isinstance(obj, dict):
        value = tuple(
            (_describe(key, container, handler), _describe(item, container, handler)) for key, item in dict.items(obj)
        )
        if isinstance(obj, generic.StreamObject):
            value = (value, obj.encoded_data)
            attrs = {k: v for k, v in attrs.items() if k not in {"_encoded_data", "_data", "_handler"}}
    elif isinstance(obj, list):
        value = tuple(_describe(item, container, handler) for item in obj)
    elif isinstance(obj, Decimal):
        value = str(obj)  # the written form: 1.50 and 1.5 are equal Decimals
    elif isinstance(obj, str | bytes | int):
        value = (type(obj).__mro__[-2].__name__, obj)
    else:
        value = None
    return type(obj).__name__, where, value, sorted((k, repr(v)) for k, v in attrs.items())


def _read(reader: Any, data: bytes, at: int, container: Any, handler: Any, **options: Any) -> Any:
    stream = BytesIO(data)
    stream.seek(at)
    try:
        obj = reader(stream, container, **options)
    except Exception as exc:  # the error is part of the behaviour compared
        return "error", type(exc).__name__, str(exc)
    return _describe(obj, container, handler), stream.tell()


def _both(data: bytes, at: int, handler: Any, **options: Any) -> tuple[Any, Any]:
    container = generic.Reference(1, 0, handler)
    ours = _read(_object_reader.read_object, data, at, container, handler, **options)
    with _pyhanko_only():
        theirs = _read(_object_reader._ORIGINAL, data, at, container, handler, **options)
    return ours, theirs


def _documents(sealed: Any, prepared: Prepared) -> dict[str, bytes]:  # noqa: F811
    return {
        "B-LTA": sealed.b_lta,
        "B-LTA with a form": sealed.b_lta_form,
        "B-LT": sealed.b_lt,
        "B-B": sealed.b_b,
        "unsigned": sealed.unsigned,
        "shadow hide": prepared.hide,
        "shadow replace": prepared.replace,
        "shadow hide-and-replace": prepared.hide_and_replace,
        "certified (annotations)": prepared.certified_annotate,
        "certified (forms)": prepared.certified_fill_forms,
    }


def test_every_object_of_real_documents_reads_the_same(sealed, prepared: Prepared) -> None:  # noqa: F811
    compared = 0
    for name, data in _documents(sealed, prepared).items():
        handler = PdfFileReader(BytesIO(data))
        for match in _OBJECT.finditer(data):
            ours, theirs = _both(data, match.end(), handler)
            assert ours == theirs, (name, match.group())
            assert ours[0] != "error", (name, match.group())
            compared += 1
    assert compared > 200


def test_metadata_streams_read_the_same(sealed) -> None:
    handler = PdfFileReader(BytesIO(sealed.b_lta))
    metadata = handler.root.raw_get("/Metadata")
    data = sealed.b_lta
    at = _OBJECT.search(data, data.find(b"\n%d 0 obj" % metadata.idnum)).end()  # type: ignore[union-attr]
    ours, theirs = _both(data, at, handler, as_metadata_stream=True)
    assert ours == theirs
    assert ours[0][0] == "MetadataStream"


def _mutate(body: bytes, rng: random.Random) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data) + 1)
        choice = rng.random()
        byte = rng.choice(_PALETTE) if rng.random() < 0.8 else rng.randrange(256)
        if choice < 0.4:
            data.insert(at, byte)
        elif choice < 0.7 and at < len(data):
            del data[at]
        elif at < len(data):
            data[at] = byte
    if rng.random() < 0.15:
        del data[rng.randrange(len(data) + 1) :]
    return bytes(data)


def test_mutated_objects_read_the_same_or_fail_the_same(sealed, prepared: Prepared) -> None:  # noqa: F811
    rng = random.Random(20261128)  # noqa: S311  # reproducible mutations, not secrets
    outcomes = {"read": 0, "error": 0}
    for name, data in _documents(sealed, prepared).items():
        handler = PdfFileReader(BytesIO(data))
        for match in _OBJECT.finditer(data):
            end = data.find(b"endobj", match.end())
            body = data[match.end() : end + 6]
            if len(body) > 4000:  # an image or font stream: the dictionary in front is what varies
                body = body[:400]
            for _ in range(12):
                mutated = _mutate(body, rng)
                ours, theirs = _both(mutated, 0, handler)
                assert ours == theirs, (name, mutated[:300])
                outcomes["error" if ours[0] == "error" else "read"] += 1
    # Both kinds of outcome are exercised in numbers.
    assert outcomes["read"] > 500 and outcomes["error"] > 500, outcomes


EDGE_CASES = [
    b"<< /A 1 /A 2 >>",  # a repeated key: pyHanko warns and keeps the first
    b"<< /A 1 >x",  # pyHanko takes any byte after the first ">"
    b"<< /A#20B 1 >>",
    b"<< /A 1 % comment\n/B 2 >>",
    b"[1 2%c\n3]",
    b"1,2 ",
    b"- ",
    b"-.5 ",
    b"+7 ",
    b"007 ",
    b"1.",
    b"1.50 ",
    b"1.2.3 ",
    b"12 0 R ",
    b"12 0 R",  # the reference at the very end: pyHanko's look-ahead sees no byte after R
    b"12 0 Rx ",
    b"0 0 R ",
    b"12\x0b0 R ",  # a vertical tab: \s to pyHanko's pattern, not PDF whitespace
    b"12\x000 R ",
    b"123456789012345678 0 R ",  # longer than pyHanko's 20-byte look-ahead
    b"(a(b)c)",
    b"(a\\(b)",
    b"(a\\8)",
    b"(\\18)",
    b"(\\400)",
    b"(\\101\\102C)",
    b"(\\0722)",
    b"(a\\\r\nb)",
    b"(a\\\n\nb)",
    b"(\\n\\r\\t\\b\\f\\\\\\/)",
    b"(\\q)",
    b"(\xfe\xff\x00A)",
    b"<48 65 6C6C6F>",
    b"<4865 6>",
    b"<48%6>",
    b"<48x>",
    b"<>",
    b"true1",
    b"truth",
    b"false ",
    b"nullx",
    b"nul",
    b"[/A/B[1 2]<</C 3>>]",
    b"<</Length 3>>stream\nabc\nendstream",
    b"<</Length 4>>stream\nabc\nendstream",  # one byte too long: pyHanko corrects it
    b"<</Length 9>>stream\nabc\nendstream",
    b"<</Length 3>> % comment\nstream\nabc\nendstream",
    b"<</A 1>>",
    b"<< >>",
    b"[ ]",
    b" 1 ",
    b"",
    b"{",
    b"/A\xe4 ",
]


@pytest.mark.parametrize("data", EDGE_CASES)
def test_edge_cases_read_the_same_or_fail_the_same(data: bytes, sealed) -> None:
    handler = PdfFileReader(BytesIO(sealed.b_b))
    ours, theirs = _both(data, 0, handler)
    assert ours == theirs


def test_streams_that_are_not_bytes_io_go_to_pyhanko() -> None:
    class Stream(BytesIO):
        pass

    handler = PdfFileReader(BytesIO(_minimal_pdf()))
    stream = Stream(b"<< /A 1 >>")
    with _pyhanko_only():
        expected = generic.read_object(stream, generic.Reference(1, 0, handler))
    stream.seek(0)
    assert _object_reader.read_object(stream, generic.Reference(1, 0, handler)) == expected


def _minimal_pdf() -> bytes:
    from tests.support.pdfs import sample_licence_pdf

    return sample_licence_pdf()


def test_installed_by_the_verifier() -> None:
    import verifier.verify  # noqa: F401

    assert generic.read_object is _object_reader.read_object
