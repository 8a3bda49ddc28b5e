"""The supervision link (审管分离): events to supervising departments, and their findings back.

Public surface (other areas use only these):

- :func:`emit` writes one CloudEvents event into the outbox inside the caller's transaction, routed to the named
  departments; :func:`licence_event` does it for a licence (data and routing from the licence and the effective
  catalogue). Call it once per change, after the change's audit entry, before the commit. For example a renewal::

      licence_event(session, instance, new_licence, EventType.LICENCE_RENEWED, at=at,
                    extra={"previous_licence_id": old.id})

- :class:`EventType` lists the event types; :func:`read_feed` serves the pull feed;
  :class:`Dispatcher` delivers to webhooks and the broker (``serve`` runs one; ``seal-service dispatch`` too).
"""

from seal_service.events.outbox import (
    EmittedEvent,
    EventType,
    emit,
    event_source,
    licence_event,
    memorandum_recorded,
    on_commit_of_events,
    seal_event,
)

__all__ = [
    "EmittedEvent",
    "EventType",
    "emit",
    "event_source",
    "licence_event",
    "memorandum_recorded",
    "on_commit_of_events",
    "seal_event",
]
