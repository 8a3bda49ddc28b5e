"""Skips that CI turns into failures: a tool that ``make test`` installs must not vanish silently.

``SEAL_TEST_REQUIRE_TOOLS=1`` (set by ``.ci/run``) makes :func:`require` fail instead of skip; either way every
skip is recorded, and ``make test`` prints them loudly at the end (tests/conftest.py, ``pytest_terminal_summary``).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

REQUIRE_TOOLS = os.environ.get("SEAL_TEST_REQUIRE_TOOLS") == "1"
#: What was missing in this run: tool -> reason (printed at the end of the run).
SKIPPED_TOOLS: dict[str, str] = {}


def missing(tool: str, available: Callable[[], bool]) -> str | None:
    """A skip reason if ``tool`` is not available here, else None (nothing recorded)."""
    try:
        ok = available()
    except Exception:  # a probe that fails means the tool is not usable
        ok = False
    return None if ok else f"{tool} is not available"


def require(tool: str, available: bool | Callable[[], bool], reason: str | None = None) -> None:
    """Skip the calling test if ``tool`` is missing, or fail it under ``SEAL_TEST_REQUIRE_TOOLS=1`` (CI)."""
    ok = available() if callable(available) else available
    if ok:
        return
    why = reason or f"{tool} is not available"
    SKIPPED_TOOLS[tool] = why
    if REQUIRE_TOOLS:
        pytest.fail(f"{why}, but `make test` installs it and CI requires it (SEAL_TEST_REQUIRE_TOOLS=1)")
    pytest.skip(why)
