"""Where received events go: JSONL (the events as sent) and CSV per China-time day, crash-safe.

The JSONL files are the record. Each event is appended as one line and flushed to disk before the next is taken;
the CSV row is written after it. On opening, a torn last line (a crash in the middle of a write) is cut off, and
CSV rows without their JSONL line are dropped, so after any crash the files hold each event once, and the cursor
(the highest ``sequence`` in the JSONL files) says where to resume.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

CHINA = timezone(timedelta(hours=8))
CSV_COLUMNS = (
    "sequence",
    "id",
    "time",
    "type",
    "subject",
    "licence_number",
    "identifier",
    "item_code",
    "holder_name",
    "holder_code",
    "status",
)


class InvalidEvent(Exception):
    """An event that is not a CloudEvents 1.0 event of this service."""


@dataclass(frozen=True)
class CheckedEvent:
    """An event that passed :func:`check_event`."""

    sequence: int
    id: str
    time: datetime
    raw: dict[str, Any]


def check_event(event: object, *, after: int | None = None) -> CheckedEvent:
    """Check the CloudEvents attributes the service promises; :class:`InvalidEvent` names what is wrong."""
    if not isinstance(event, dict):
        raise InvalidEvent("an event must be a JSON object")
    if event.get("specversion") != "1.0":
        raise InvalidEvent(f"specversion must be 1.0, got {event.get('specversion')!r}")
    for name in ("id", "source", "type", "time", "sequence"):
        if not isinstance(event.get(name), str) or not event[name]:
            raise InvalidEvent(f"attribute {name} is missing or not a string")
    if not event["type"].startswith("cn.gov.approval."):
        raise InvalidEvent(f"unexpected event type {event['type']!r}")
    try:
        sequence = int(event["sequence"])
        at = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidEvent(f"bad sequence or time: {exc}") from None
    if at.tzinfo is None:
        raise InvalidEvent("time has no offset")
    if after is not None and sequence <= after:
        raise InvalidEvent(f"sequence {sequence} is not after the cursor {after}")
    if not isinstance(event.get("data"), dict):
        raise InvalidEvent("data must be a JSON object")
    return CheckedEvent(sequence=sequence, id=event["id"], time=at, raw=event)


def _csv_row(event: dict[str, Any]) -> list[str]:
    data: dict[str, Any] = event.get("data") or {}
    item = data.get("item") if isinstance(data.get("item"), dict) else {}
    holder = data.get("holder") if isinstance(data.get("holder"), dict) else {}
    values = [
        event.get("sequence"),
        event.get("id"),
        event.get("time"),
        event.get("type"),
        event.get("subject"),
        data.get("licence_number"),
        data.get("identifier"),
        (item or {}).get("code"),
        (holder or {}).get("name"),
        (holder or {}).get("code"),
        data.get("status"),
    ]
    return ["" if v is None else str(v) for v in values]


class EventStore:
    """The output directory of one consumer."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ids: set[str] = set()
        self.cursor = 0
        self._recover()

    def _recover(self) -> None:
        for path in sorted(self.directory.glob("events-*.jsonl")):
            data = path.read_bytes()
            keep = data if data.endswith(b"\n") or not data else data[: data.rfind(b"\n") + 1]
            if keep != data:  # a torn last line: the event is fetched again
                with path.open("r+b") as f:
                    f.truncate(len(keep))
            sequences = set()
            for line in keep.splitlines():
                event = json.loads(line)
                self.ids.add(event["id"])
                sequences.add(event["sequence"])
                self.cursor = max(self.cursor, int(event["sequence"]))
            self._reconcile_csv(path.with_suffix(".csv"), sequences)

    @staticmethod
    def _reconcile_csv(path: Path, sequences: set[str]) -> None:
        if not path.exists():
            return
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        kept = [r for r in rows if r and (r[0] == "sequence" or r[0] in sequences)]
        if kept != rows:
            out = io.StringIO()
            csv.writer(out).writerows(kept)
            path.write_text(out.getvalue(), encoding="utf-8")

    def add(self, event: CheckedEvent) -> bool:
        """Write ``event`` unless its id is already stored; False for a duplicate."""
        if event.id in self.ids:
            return False
        day = event.time.astimezone(CHINA).date().isoformat()
        line = json.dumps(event.raw, ensure_ascii=False, separators=(",", ":")) + "\n"
        jsonl = self.directory / f"events-{day}.jsonl"
        with jsonl.open("ab") as f:
            f.write(line.encode())
            f.flush()
            os.fsync(f.fileno())
        csv_path = jsonl.with_suffix(".csv")
        new = not csv_path.exists()
        with csv_path.open("a", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(CSV_COLUMNS)
            writer.writerow(_csv_row(event.raw))
        self.ids.add(event.id)
        self.cursor = max(self.cursor, event.sequence)
        return True
