"""Wake waiters of this process when a transaction that wrote what they wait for commits.

The outbox dispatcher and the log sequencer each sleep until there is work. A transaction that writes an event or
a log entry marks its session (:meth:`CommitWakeups.mark`); when that session commits, every callback subscribed in
this process runs; a rollback clears the mark. Other processes and nodes do not hear it: they poll.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session


class CommitWakeups:
    """Callbacks run after each commit of a session marked with ``key`` (in ``Session.info``)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        event.listen(Session, "after_commit", self._after_commit)
        event.listen(Session, "after_rollback", self._after_rollback)

    def mark(self, session: Session) -> None:
        """Say that ``session``'s transaction wrote something the subscribers wait for."""
        session.info[self.key] = True

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` after each marked commit; returns a function that unsubscribes it."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return remove

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(self.key, None):
            with self._lock:
                callbacks = list(self._callbacks)
            for callback in callbacks:
                callback()

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(self.key, None)
