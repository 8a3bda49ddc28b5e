"""The pull feed: a department reads the events routed to it, after a cursor, in sequence order.

Example::

    >>> page = read_feed(instance, "jc-market", after=0, limit=100)      # doctest: +SKIP
    >>> page.next_cursor                                                 # doctest: +SKIP
    42

The cursor is the global sequence number, so a department's events have gaps between them (other departments'
events); it only ever increases, and events commit in cursor order (see :mod:`seal_service.events.outbox`), so
``after=next_cursor`` never misses one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from seal_service.errors import InvalidInput, NotFound
from seal_service.storage.events_models import SupervisionEvent, SupervisionEventRoute

if TYPE_CHECKING:
    from seal_service.instance import Instance

MAX_LIMIT = 1000


@dataclass(frozen=True)
class FeedPage:
    """Events of one department after a cursor."""

    envelopes: tuple[str, ...]
    """CloudEvents JSON texts, exactly as stored, in sequence order."""
    next_cursor: int
    """Pass as ``after`` for the next page (the last event's sequence, or ``after`` when there was none)."""

    def json(self) -> str:
        """The feed page as JSON text (the envelopes are embedded unchanged)."""
        return '{"events":[' + ",".join(self.envelopes) + f'],"next_cursor":{self.next_cursor}}}'


def read_feed(instance: Instance, department: str, *, after: int, limit: int) -> FeedPage:
    """Up to ``limit`` events routed to ``department`` with a sequence number above ``after``."""
    if after < 0:
        raise InvalidInput("the cursor is a sequence number >= 0", field="after")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1 to {MAX_LIMIT}", field="limit")
    query = (
        select(SupervisionEvent.seq, SupervisionEvent.envelope)
        .join(SupervisionEventRoute, SupervisionEventRoute.seq == SupervisionEvent.seq)
        .where(SupervisionEventRoute.department == department, SupervisionEventRoute.seq > after)
        .order_by(SupervisionEventRoute.seq)
        .limit(limit)
    )
    with instance.sessions() as session:
        rows = session.execute(query).all()
    return FeedPage(envelopes=tuple(r.envelope for r in rows), next_cursor=rows[-1].seq if rows else after)


def licence_for_department(instance: Instance, licence_id: str, department: str) -> tuple[dict[str, object], bytes]:
    """A licence's event data and its sealed PDF, for a department that receives its events (the supervisor of its
    item, or the owner of its seal); :class:`NotFound` for any other department (no probing of other licences)."""
    from seal_service.events.outbox import licence_data, licence_routes
    from seal_service.storage.models import Licence, LicenceDocument

    with instance.sessions() as session:
        licence = session.get(Licence, licence_id)
        if licence is not None:
            routes, item_name = licence_routes(instance, session, licence)
            if department in routes:
                document = session.get(LicenceDocument, licence_id)
                return licence_data(instance, licence, item_name), document.pdf if document else b""
    raise NotFound(f"unknown licence {licence_id!r}", field="licence_id")
