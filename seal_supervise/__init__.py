"""``seal-supervise``: a reference consumer of the one-seal service's supervision events, for departments.

Example::

    $ seal-supervise pull --service https://seal.example --key-file market.key --out events/
    $ seal-supervise serve-webhook --secret-file hook.secret --port 8080 --out events/

Both write what they receive to ``DIR/events-YYYY-MM-DD.jsonl`` (each CloudEvents event as sent) and
``DIR/events-YYYY-MM-DD.csv`` (one row per event, for spreadsheets), one pair per China-time day of the event.
``pull`` follows ``GET /v1/supervision/events`` and resumes from the last event it wrote after a crash;
``serve-webhook`` verifies Standard Webhooks signatures (HMAC-SHA256), refuses stale timestamps and never takes an
event id twice.

Ships alone: the standard library only, never the service's packages.
"""

from __future__ import annotations

from seal_supervise.store import EventStore, InvalidEvent, check_event
from seal_supervise.webhook import SignatureError, verify_signature

__all__ = ["EventStore", "InvalidEvent", "SignatureError", "check_event", "verify_signature"]
