"""Hostile PDFs found by fuzzing (tests/fuzz), sent through the real sign API: a 422 problem naming the field,
never a 500, and nothing recorded."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pikepdf
import pytest

from seal_service.errors import InvalidDocument
from seal_service.signing.documents import inspect_pdf
from tests.seal_service.api.test_licences_api import _is_problem, _licence_count, _post
from tests.support.pdfs import sample_licence_pdf

FUZZ = Path(__file__).resolve().parents[2] / "fuzz" / "regressions"
#: Refused by the PDF checks (pdf_checks) or when sealing opens the file (sign_input).
REGRESSIONS = sorted([*(FUZZ / "pdf_checks").glob("*"), *(FUZZ / "sign_input").glob("*")])


def _action_cycle_pdf() -> bytes:
    """An /OpenAction whose /Next chain loops back to itself (a naive recursive check never ends)."""
    pdf = pikepdf.open(BytesIO(sample_licence_pdf()))
    action = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Action, S=pikepdf.Name.GoTo, D=pikepdf.Array()))
    action.Next = pikepdf.Array([action, action])
    pdf.Root.OpenAction = action
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


def _hidden_javascript_after_cycle_pdf() -> bytes:
    """A loop in the /Next chain with a JavaScript action behind it: still found and refused."""
    pdf = pikepdf.open(BytesIO(sample_licence_pdf()))
    script = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)")))
    first = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.GoTo, D=pikepdf.Array()))
    second = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.GoTo, D=pikepdf.Array()))
    first.Next = second
    second.Next = pikepdf.Array([first, script])
    pdf.Root.OpenAction = first
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_an_action_cycle_is_checked_without_running_forever() -> None:
    facts = inspect_pdf(_action_cycle_pdf(), max_bytes=1 << 20)
    assert facts.page_count == 1
    with pytest.raises(InvalidDocument, match="runs actions when opened"):
        inspect_pdf(_hidden_javascript_after_cycle_pdf(), max_bytes=1 << 20)


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.name)
def test_fuzzing_findings_are_refused_as_damaged_pdfs(api, keys, db_instance, path: Path) -> None:  # type: ignore[no-untyped-def]
    before = _licence_count(db_instance)
    _is_problem(_post(api, keys.city, path.read_bytes()), 422, "pdf")
    assert _licence_count(db_instance) == before


def test_a_javascript_action_behind_a_cycle_is_refused_by_the_api(api, keys, db_instance) -> None:  # type: ignore[no-untyped-def]
    before = _licence_count(db_instance)
    _is_problem(_post(api, keys.city, _hidden_javascript_after_cycle_pdf()), 422, "active content")
    assert _licence_count(db_instance) == before
