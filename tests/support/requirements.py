"""Skips that CI turns into failures: a tool that ``make test`` installs must not vanish silently.

Tests mark what they need with :func:`needs` (a ``needs_tool`` mark) or call :func:`require`. A missing tool skips
the test in a local run, and the run ends with a loud list of what was skipped and why; under
``SEAL_TEST_REQUIRE_TOOLS=1`` (set by ``.ci/run``) the test fails instead. Registered as a pytest plugin by
tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

REQUIRE_TOOLS_ENV = "SEAL_TEST_REQUIRE_TOOLS"
#: Every skip or failure for a missing tool starts with this, so that the process that prints the summary (the
#: pytest-xdist controller, or the one process of a plain run) can count them from the test reports.
MISSING_PREFIX = "tool missing: "
#: What was missing in this run, counted from the reports: tool -> (reason, number of tests it skipped or failed).
SKIPPED_TOOLS: dict[str, list[object]] = {}


def _required() -> bool:
    return os.environ.get(REQUIRE_TOOLS_ENV) == "1"


def missing(tool: str, available: Callable[[], bool]) -> str | None:
    """A skip reason if ``tool`` is not available here, else None (nothing recorded; for tools `make test` does
    not install, such as root rights)."""
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
    why = reason or f"{tool} is not installed"
    if _required():
        pytest.fail(
            f"{MISSING_PREFIX}{tool}: {why}, but `make test` installs it and {REQUIRE_TOOLS_ENV}=1 (CI) requires it",
            pytrace=False,
        )
    pytest.skip(f"{MISSING_PREFIX}{tool}: {why}")


def needs(tool: str, available: bool, reason: str | None = None) -> pytest.MarkDecorator:
    """A mark: the test needs ``tool`` (installed by ``make test``); see :func:`require`."""
    return pytest.mark.needs_tool(tool=tool, available=available, reason=reason)


def pytest_configure(config: pytest.Config) -> None:
    """Register the mark."""
    config.addinivalue_line("markers", "needs_tool(tool, available, reason): a tool `make test` installs")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip or fail a test whose needed tool is missing."""
    for mark in item.iter_markers("needs_tool"):
        require(mark.kwargs["tool"], bool(mark.kwargs["available"]), mark.kwargs.get("reason"))


def _missing_tool(report: pytest.TestReport) -> tuple[str, str] | None:
    """(tool, reason) when ``report`` is a skip or failure for a missing tool, else None."""
    if not (report.skipped or report.failed):
        return None
    text = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longreprtext
    start = text.find(MISSING_PREFIX)
    if start < 0:
        return None
    tool, _, why = text[start + len(MISSING_PREFIX) :].partition(": ")
    return tool, why.splitlines()[0] if why else ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count the tests skipped (or failed, in CI) for want of a tool; with pytest-xdist the controller sees every
    worker's reports here, so the summary below covers the whole run."""
    found = _missing_tool(report)
    if found is None:
        return
    tool, why = found
    entry = SKIPPED_TOOLS.setdefault(tool, [why, 0])
    entry[1] = int(entry[1]) + 1  # type: ignore[call-overload]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    """Say loudly what was skipped for want of a tool."""
    if not SKIPPED_TOOLS:
        return
    terminalreporter.section("TOOLS MISSING: these tests did NOT run", sep="!", red=True, bold=True)
    for tool, (why, count) in sorted(SKIPPED_TOOLS.items()):
        outcome = "tests FAILED" if _required() else "tests skipped"
        terminalreporter.write_line(f"  {tool}: {outcome}: {count} ({why})", red=True, bold=True)
    terminalreporter.write_line(
        f"  Install them with `make deps-test`; CI ({REQUIRE_TOOLS_ENV}=1) fails on each of these.", red=True
    )
