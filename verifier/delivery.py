"""The monitor's supervision check: every licence of an item a department supervises that the log records must
also have reached the department through its supervision feed (``cn.gov.approval.licence.sealed``).

A bureau that seals a licence and hides its event from the supervising department cannot also hide it from the
log: this check finds the difference. It is run by ``seal-monitor --department CODE --supervisor-key-file F``.

Example::

    >>> ledger = DeliveryLedger(Path("/var/lib/seal-monitor"))                      # doctest: +SKIP
    >>> check = DeliveryCheck(ledger, FeedClient(url, key), supervised={"JC-001"}, grace=300.0)  # doctest: +SKIP
    >>> monitor_pass(..., observer=check)                                          # doctest: +SKIP
    >>> check.alerts(at=datetime.now(UTC))                                         # doctest: +SKIP

How it decides (the ledger keeps each set in the monitor's state directory, ``supervision.json``):

- each new log entry of kind ``sealed`` whose item the department supervises becomes *pending*, with its sealed time;
- the feed is followed from the ledger's cursor (``GET /v1/supervision/events?after=CURSOR``); each
  ``licence.sealed`` event of a supervised item marks its licence *delivered* (the feed may run ahead of the log);
- a pending licence that is delivered is settled; one still pending ``grace`` seconds after its sealed time is an
  alert (once). The grace covers the log's sequencing delay (about a second) and a feed that lags a little.

The ledger is written before the monitor accepts a checkpoint, so a crash between the two re-reads entries (which
the ledger absorbs: it is keyed by licence) and never loses one.
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
DEFAULT_GRACE = 300.0
"""Seconds after its sealed time before a licence missing from the feed is an alert."""
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
    """A logged licence of a supervised item not yet seen in the feed."""

    licence: str
    index: int
    item: str
    authority: str
    sealed_at: str


class DeliveryLedger:
    """``supervision.json`` in the monitor's state directory: feed cursor, pending and delivered licences."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "supervision.json"
        data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.cursor: int = int(data.get("cursor", 0))
        self.pending: dict[str, Pending] = {p["licence"]: Pending(**p) for p in data.get("pending", [])}
        self.delivered: set[str] = set(data.get("delivered", []))

    def save(self) -> None:
        """Write the ledger atomically."""
        data = {
            "cursor": self.cursor,
            "pending": [p.__dict__ for p in self.pending.values()],
            "delivered": sorted(self.delivered),
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1))
        tmp.replace(self.path)


class DeliveryCheck:
    """Observes the monitor's new entries and compares them with the feed (see the module docstring)."""

    def __init__(self, ledger: DeliveryLedger, feed: FeedClient, *, supervised: set[str], grace: float) -> None:
        self.ledger = ledger
        self.feed = feed
        self.supervised = supervised
        self.grace = grace

    def observe(self, index: int, entry: LogEntry) -> None:
        """A new, authenticated log entry."""
        if entry.kind is EntryKind.SEALED and entry.licence and entry.item in self.supervised:
            if entry.licence in self.ledger.delivered:
                self.ledger.delivered.discard(entry.licence)
            else:
                self.ledger.pending[entry.licence] = Pending(
                    entry.licence, index, entry.item or "", entry.authority, entry.at
                )

    def commit(self) -> None:
        """Persist what was observed (called before the monitor accepts the checkpoint)."""
        self.ledger.save()

    def follow_feed(self) -> int:
        """Read the feed to its end; returns how many events were read."""
        count = 0
        while True:
            events, cursor = self.feed.page(self.ledger.cursor)
            for event in events:
                count += 1
                if event.get("type") != SEALED_EVENT:
                    continue
                raw_data = event.get("data")
                data: dict[str, Any] = raw_data if isinstance(raw_data, dict) else {}
                licence = str(data.get("licence_id") or event.get("subject") or "")
                raw_item = data.get("item")
                item = raw_item.get("code") if isinstance(raw_item, dict) else None
                if not licence:
                    continue
                if self.ledger.pending.pop(licence, None) is None and (item is None or item in self.supervised):
                    self.ledger.delivered.add(licence)
            self.ledger.cursor = cursor
            if not events:
                self.ledger.save()
                return count

    def alerts(self, *, at: datetime) -> list[tuple[str, dict[str, Any]]]:
        """Follow the feed, then report each pending licence older than the grace period (message, details).
        Reported licences leave the ledger (one alert each)."""
        self.follow_feed()
        found = []
        for licence, pending in sorted(self.ledger.pending.items(), key=lambda kv: kv[1].index):
            sealed = datetime.fromisoformat(pending.sealed_at.replace("Z", "+00:00"))
            if sealed.tzinfo is None:
                sealed = sealed.replace(tzinfo=UTC)
            if (at - sealed).total_seconds() < self.grace:
                continue
            found.append(
                (
                    f"licence {licence} (item {pending.item}, log entry {pending.index}) was sealed by "
                    f"{pending.authority} at {pending.sealed_at} and is in the log, but the supervision feed "
                    "never delivered it to this department",
                    {"licence": licence, "index": pending.index, "item": pending.item, "sealed_at": pending.sealed_at},
                )
            )
            del self.ledger.pending[licence]
        self.ledger.save()
        return found


__all__ = [
    "DEFAULT_GRACE",
    "SEALED_EVENT",
    "DeliveryCheck",
    "DeliveryLedger",
    "FeedClient",
    "FeedRefused",
    "Pending",
    "supervised_items",
]
