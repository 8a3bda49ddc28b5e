"""seal-verify forks its worker processes only when that is safe: one thread, no event loop."""

from __future__ import annotations

import asyncio
import threading

from verifier.cli import _pool_context, _single_threaded


def test_a_process_with_another_thread_is_never_forked() -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait, daemon=True)
    other.start()
    try:
        assert not _single_threaded()
        assert _pool_context().get_start_method() != "fork"
    finally:
        release.set()
        other.join()


def test_a_process_inside_an_event_loop_is_never_forked() -> None:
    async def inside() -> str:
        return _pool_context().get_start_method()

    assert asyncio.run(inside()) != "fork"


def test_a_single_threaded_process_forks(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # pytest may run helper threads of its own
    assert _single_threaded()
    assert _pool_context().get_start_method() == "fork"
