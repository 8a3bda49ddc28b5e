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


def test_workers_collect_garbage_less_often_and_the_caller_is_left_alone(sealed) -> None:  # type: ignore[no-untyped-def]
    import gc
    from concurrent.futures import ProcessPoolExecutor

    from cryptography.hazmat.primitives.serialization import Encoding

    from verifier.cli import _WORKER_GC_THRESHOLD, _init_worker, _Setup

    setup = _Setup(roots_der=(sealed.root.public_bytes(Encoding.DER),))
    before = gc.get_threshold()
    _init_worker(setup, None)  # the calling process verifies the first files itself: its settings stay
    assert gc.get_threshold() == before
    with ProcessPoolExecutor(1, mp_context=_pool_context(), initializer=_init_worker, initargs=(setup, None)) as pool:
        assert pool.submit(gc.get_threshold).result() == _WORKER_GC_THRESHOLD
    assert gc.get_threshold() == before != _WORKER_GC_THRESHOLD
