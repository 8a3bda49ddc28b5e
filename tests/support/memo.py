"""Session fixtures made once per test process, whatever order the tests run in.

A session-scoped fixture with ``params`` (sqlite, postgresql) holds one param at a time: when the next test needs
the other one, pytest tears the fixture down and sets it up again. A plain run orders the whole suite by param, so
that happens once; under pytest-xdist (``make test`` runs on several workers) each worker runs whole files in turn,
each file's SQLite tests then its PostgreSQL ones, so the fixture would be rebuilt for every file: slow, and wrong
where the rebuilt fixture meets state the first one left (a second instance home on an already initialised
database has no key files). :func:`once_per_process` keeps the first value for the rest of the process and
finalises it when pytest ends.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
_MADE = pytest.StashKey[dict[Hashable, Any]]()


def once_per_process(
    request: pytest.FixtureRequest,
    key: Hashable,
    make: Callable[[], T],
    finalise: Callable[[T], None] | None = None,
) -> T:
    """The value made by ``make`` for ``key`` in this process; ``finalise`` runs once when pytest ends."""
    made = request.config.stash.setdefault(_MADE, {})
    if key not in made:
        value = make()
        made[key] = value
        if finalise is not None:
            request.config.add_cleanup(lambda: finalise(value))
    return made[key]  # type: ignore[no-any-return]
