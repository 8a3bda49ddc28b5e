"""The monitor's supervision check: every entry of the log that concerns a department must also have reached it
through its supervision feed, as the event of the same change.

A bureau that seals a licence (or revokes, suspends, reinstates, cancels or renews one, or retires a seal) and hides
the event from the supervising department cannot also hide it from the log: this check finds the difference. It is
run by ``seal-monitor --department CODE --supervisor-key-file F``.

Example::

    >>> ledger = DeliveryLedger(Path("/var/lib/seal-monitor"))                      # doctest: +SKIP
    >>> check = DeliveryCheck(ledger, FeedClient(url, key), supervised={"JC-001"}, grace=300.0)  # doctest: +SKIP
    >>> monitor_pass(..., observer=check)                                          # doctest: +SKIP
    >>> check.alerts(at=datetime.now(UTC))                                         # doctest: +SKIP

Which entries concern the department, and the event each must arrive as (:data:`EVENT_OF`):

- ``sealed`` and ``renewed`` entries of an item the department supervises (``licence.sealed``,
  ``licence.renewed``); the ledger remembers the licence's item;
- ``revoked``, ``suspended``, ``reinstated`` and ``cancelled`` entries of a licence the ledger knows to be of such
  an item (status entries carry no item: the licence's ``sealed`` entry, earlier in the log, gave it);
- ``seal-retired`` entries of the department's own seals or of an authority that seals (or sealed) one of its items
  (``seal.retired``, routed to those departments).

How it decides (the ledger keeps each set in the monitor's state directory, ``supervision.json``):

- each new log entry that concerns the department becomes *pending*, with its time;
- the feed is followed from the ledger's cursor (``GET /v1/supervision/events?after=CURSOR``); each event of one of
  those types settles the oldest pending entry of the same kind and subject (licence or seal), or, when none is
  pending, is remembered as *delivered* (the feed may run ahead of the log);
- a pending entry still pending ``grace`` seconds after its time is an alert (once). The grace covers the log's
  sequencing delay (about a second) and a feed that lags a little.

The ledger is written before the monitor accepts a checkpoint, so a crash between the two re-reads entries (which
the ledger absorbs: a re-read entry is recognised by its index) and never loses one.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verifier.errors import VerifierError
from verifier.log_entry import EntryKind, LogEntry
from verifier.transparency import LogUnavailable

SEALED_EVENT = "cn.gov.approval.licence.sealed"
"""The CloudEvents type that tells a department a licence of its item was sealed."""
EVENT_OF: dict[EntryKind, str] = {
    EntryKind.SEALED: SEALED_EVENT,
    EntryKind.RENEWED: "cn.gov.approval.licence.renewed",
    EntryKind.REVOKED: "cn.gov.approval.licence.revoked",
    EntryKind.SUSPENDED: "cn.gov.approval.licence.suspended",
    EntryKind.REINSTATED: "cn.gov.approval.licence.reinstated",
    EntryKind.CANCELLED: "cn.gov.approval.licence.cancelled",
    EntryKind.SEAL_RETIRED: "cn.gov.approval.seal.retired",
}
"""The supervision event each kind of log entry must arrive as."""
_KIND_OF_EVENT = {event: kind for kind, event in EVENT_OF.items()}
DEFAULT_GRACE = 300.0
"""Seconds after its time before an entry missing from the feed is an alert."""
_PAGE = 1000


class FeedRefused(VerifierError):
    """The service refused the supervisor key (or answered something that is not a feed page)."""


def _get_json(url: str, *, headers: dict[str, str], timeout: float) -> Any:
    if not url.startswith(("http://", "https://")):
        raise LogUnavailable(f"{url}: only http and https URLs are asked")
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked above
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise FeedRefused(
                f"the service refused the supervisor key (HTTP {exc.code}): check --supervisor-key-file"
            ) from None
        raise LogUnavailable(f"{url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LogUnavailable(f"{url}: {getattr(exc, 'reason', exc)}") from None
    except ValueError as exc:
        raise FeedRefused(f"{url} did not answer JSON: {exc}") from None


def supervised_items(service: str, department: str, *, timeout: float = 10.0) -> set[str]:
    """Codes of the items ``department`` supervises, from the service's public catalogue (``GET /v1/catalogue``)."""
    catalogue = _get_json(f"{service.rstrip('/')}/v1/catalogue", headers={}, timeout=timeout)
    items = catalogue.get("items") if isinstance(catalogue, dict) else None
    if not isinstance(items, list):
        raise FeedRefused("the catalogue has no items list")
    return {
        str(item["code"])
        for item in items
        if isinstance(item, dict) and item.get("supervisor") == department and "code" in item
    }


class FeedClient:
    """The department's supervision feed, read with its supervisor key."""

    def __init__(self, service: str, key: str, *, timeout: float = 10.0) -> None:
        self.base = service.rstrip("/")
        self.key = key
        self.timeout = timeout

    def page(self, after: int) -> tuple[list[dict[str, Any]], int]:
        """Events after ``after`` and the next cursor."""
        query = urllib.parse.urlencode({"after": after, "limit": _PAGE, "wait": 0})
        page = _get_json(
            f"{self.base}/v1/supervision/events?{query}",
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=self.timeout,
        )
        if not isinstance(page, dict) or not isinstance(page.get("events"), list):
            raise FeedRefused("the feed page has no events list")
        cursor = page.get("next_cursor")
        if not isinstance(cursor, int) or cursor < after:
            raise FeedRefused(f"the feed page's next_cursor {cursor!r} goes back from {after}")
        return [e for e in page["events"] if isinstance(e, dict)], cursor


@dataclass(frozen=True)
class Pending:
    """A log entry that concerns the department, not yet seen in the feed as its event."""

    licence: str
    """The licence (for a ``seal-retired`` entry: the seal id)."""
    index: int
    item: str
    """The licence's item ("" for a seal)."""
    authority: str
    sealed_at: str
    """The entry's time (``at``): when the change happened (for a ``sealed`` entry, when it was sealed)."""
    kind: str = EntryKind.SEALED.value
    """The entry kind (ledgers written before status entries were checked hold ``sealed`` ones only)."""

    @property
    def key(self) -> str:
        """``kind subject``: what an event settles."""
        return f"{self.kind} {self.licence}"


class DeliveryLedger:
    """``supervision.json`` in the monitor's state directory: the feed cursor, the pending entries, the events
    delivered ahead of the log, and the items of the supervised licences seen in the log."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "supervision.json"
        data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.cursor: int = int(data.get("cursor", 0))
        self.pending: dict[int, Pending] = {}
        for raw in data.get("pending", []):
            pending = Pending(**raw)
            self.pending[pending.index] = pending
        delivered = data.get("delivered", {})
        # Earlier ledgers list licences whose licence.sealed event came first; now "kind subject" -> count.
        if isinstance(delivered, list):
            delivered = {f"{EntryKind.SEALED.value} {licence}": 1 for licence in delivered}
        self.delivered: dict[str, int] = {str(k): int(v) for k, v in delivered.items()}
        self.items: dict[str, str] = {str(k): str(v) for k, v in data.get("items", {}).items()}
        """Licence -> item, for licences of supervised items seen sealed in the log (status entries carry no item)."""

    def save(self) -> None:
        """Write the ledger atomically."""
        data = {
            "cursor": self.cursor,
            "pending": [p.__dict__ for p in sorted(self.pending.values(), key=lambda p: p.index)],
            "delivered": dict(sorted(self.delivered.items())),
            "items": self.items,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1))
        tmp.replace(self.path)

    def settle(self, key: str, *, every: bool = False) -> bool:
        """An event of ``key`` arrived: settle the oldest pending entry of that key (``every``: all of them);
        True if there was one."""
        settled = False
        for index in sorted(self.pending):
            if self.pending[index].key == key:
                del self.pending[index]
                settled = True
                if not every:
                    break
        return settled


class DeliveryCheck:
    """Observes the monitor's new entries and compares them with the feed (see the module docstring)."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        feed: FeedClient,
        *,
        supervised: set[str],
        grace: float,
        department: str | None = None,
        seal_authorities: set[str] | None = None,
    ) -> None:
        self.ledger = ledger
        self.feed = feed
        self.supervised = supervised
        self.grace = grace
        self.seal_authorities = set(seal_authorities or ()) | ({department} if department else set())
        """Authorities whose ``seal.retired`` events reach the department: its own, and those that seal (or sealed)
        one of its items."""

    def _concerns(self, entry: LogEntry) -> str | None:
        """The item ("" for a seal) when ``entry`` concerns the department, else None."""
        if entry.kind is EntryKind.SEAL_RETIRED:
            return "" if entry.seal and entry.authority in self.seal_authorities else None
        if not entry.licence:
            return None
        if entry.kind in (EntryKind.SEALED, EntryKind.RENEWED):
            return entry.item if entry.item in self.supervised else None
        return self.ledger.items.get(entry.licence)

    def observe(self, index: int, entry: LogEntry) -> None:
        """A new, authenticated log entry."""
        if entry.kind is EntryKind.SEALED and entry.licence and entry.item in self.supervised:
            self.ledger.items[entry.licence] = entry.item or ""
        item = self._concerns(entry)
        if item is None or index in self.ledger.pending:
            return
        subject = entry.seal if entry.kind is EntryKind.SEAL_RETIRED else entry.licence
        pending = Pending(subject or "", index, item, entry.authority, entry.at, entry.kind.value)
        ahead = self.ledger.delivered.get(pending.key, 0)
        if ahead:
            # Its event came first (the feed ran ahead of the log). A seal is retired once, with one event, but
            # the log has an entry per certificate it held: the event stays delivered for each of them.
            if entry.kind is EntryKind.SEAL_RETIRED:
                return
            if ahead == 1:
                del self.ledger.delivered[pending.key]
            else:
                self.ledger.delivered[pending.key] = ahead - 1
            return
        self.ledger.pending[index] = pending

    def commit(self) -> None:
        """Persist what was observed (called before the monitor accepts the checkpoint)."""
        self.ledger.save()

    def _receive(self, event: dict[str, Any]) -> None:
        kind = _KIND_OF_EVENT.get(str(event.get("type")))
        if kind is None:
            return
        raw_data = event.get("data")
        data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
        if kind is EntryKind.SEAL_RETIRED:
            subject = str(data.get("seal_id") or event.get("subject") or "")
            concerns = True  # routed to this department by the service: it concerns it
        else:
            subject = str(data.get("licence_id") or event.get("subject") or "")
            raw_item = data.get("item")
            item = raw_item.get("code") if isinstance(raw_item, dict) else None
            concerns = (item in self.supervised) if item is not None else subject in self.ledger.items
        if not subject:
            return
        key = f"{kind.value} {subject}"
        # One seal.retired event answers the seal's entries of every certificate it held.
        if not self.ledger.settle(key, every=kind is EntryKind.SEAL_RETIRED) and concerns:
            self.ledger.delivered[key] = self.ledger.delivered.get(key, 0) + 1

    def follow_feed(self) -> int:
        """Read the feed to its end; returns how many events were read."""
        count = 0
        while True:
            events, cursor = self.feed.page(self.ledger.cursor)
            for event in events:
                count += 1
                self._receive(event)
            self.ledger.cursor = cursor
            if not events:
                self.ledger.save()
                return count

    def alerts(self, *, at: datetime) -> list[tuple[str, dict[str, Any]]]:
        """Follow the feed, then report each pending entry older than the grace period (message, details).
        Reported entries leave the ledger (one alert each)."""
        self.follow_feed()
        found = []
        for index, pending in sorted(self.ledger.pending.items()):
            happened = datetime.fromisoformat(pending.sealed_at.replace("Z", "+00:00"))
            if happened.tzinfo is None:
                happened = happened.replace(tzinfo=UTC)
            if (at - happened).total_seconds() < self.grace:
                continue
            found.append(_alert(pending))
            del self.ledger.pending[index]
        self.ledger.save()
        return found


def _alert(pending: Pending) -> tuple[str, dict[str, Any]]:
    event = EVENT_OF[EntryKind(pending.kind)]
    details: dict[str, Any] = {"index": pending.index, "entry_kind": pending.kind, "event": event}
    if pending.kind == EntryKind.SEAL_RETIRED.value:
        message = (
            f"seal {pending.licence} of {pending.authority} was retired at {pending.sealed_at} (log entry "
            f"{pending.index}), but the supervision feed never delivered its {event} event to this department"
        )
        return message, {"seal": pending.licence, "retired_at": pending.sealed_at, **details}
    if pending.kind == EntryKind.SEALED.value:
        message = (
            f"licence {pending.licence} (item {pending.item}, log entry {pending.index}) was sealed by "
            f"{pending.authority} at {pending.sealed_at} and is in the log, but the supervision feed never "
            "delivered it to this department"
        )
        return message, {"licence": pending.licence, "item": pending.item, "sealed_at": pending.sealed_at, **details}
    message = (
        f"licence {pending.licence} (item {pending.item}) was {pending.kind} by {pending.authority} at "
        f"{pending.sealed_at} (log entry {pending.index}), but the supervision feed never delivered its {event} "
        "event to this department"
    )
    return message, {"licence": pending.licence, "item": pending.item, "at": pending.sealed_at, **details}


__all__ = [
    "DEFAULT_GRACE",
    "EVENT_OF",
    "SEALED_EVENT",
    "DeliveryCheck",
    "DeliveryLedger",
    "FeedClient",
    "FeedRefused",
    "Pending",
    "supervised_items",
]
