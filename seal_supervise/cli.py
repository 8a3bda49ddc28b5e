"""``seal-supervise pull|serve-webhook``: follow a department's events (see :mod:`seal_supervise`).

Exit codes: 0 done (``--once``, or stopped by a signal); 1 the service sent something that is not a valid event,
or refused the key; 2 bad usage or an unreadable key/secret file; 3 the service cannot be reached (``--once``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from seal_supervise.store import EventStore, InvalidEvent, check_event
from seal_supervise.webhook import DEFAULT_TOLERANCE, WebhookServer


class PullError(Exception):
    """The service refused the request or answered something unreadable."""


def _read_secret(path: str, what: str) -> str:
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(f"seal-supervise: cannot read the {what} file {path}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None
    if not value:
        print(f"seal-supervise: the {what} file {path} is empty", file=sys.stderr)
        raise SystemExit(2)
    return value


def fetch_page(service: str, key: str, *, after: int, limit: int, wait: float, timeout: float) -> dict[str, object]:
    """One page of the feed."""
    query = urllib.parse.urlencode({"after": after, "limit": limit, "wait": wait})
    request = urllib.request.Request(  # noqa: S310 - the operator names the service URL
        f"{service.rstrip('/')}/v1/supervision/events?{query}", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            page: object = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:300]
        raise PullError(f"the service answered {exc.code}: {detail}") from None
    except ValueError as exc:
        raise PullError(f"the feed is not JSON: {exc}") from None
    if not isinstance(page, dict) or not isinstance(page.get("events"), list):
        raise PullError("the feed page has no events list")
    return page


def pull(
    service: str,
    key: str,
    out: Path,
    *,
    limit: int = 500,
    wait: float = 20,
    once: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Follow the feed into ``out`` from its last stored event; returns how many events were stored."""
    store = EventStore(out)
    stop = stop or threading.Event()
    stored = 0
    failures = 0
    while not stop.is_set():
        try:
            held = 0 if once else wait
            page = fetch_page(service, key, after=store.cursor, limit=limit, wait=held, timeout=wait + 30)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if once:
                raise
            failures += 1
            print(f"seal-supervise: service unreachable ({exc}); retrying", file=sys.stderr)
            stop.wait(min(60.0, 2.0**failures))
            continue
        failures = 0
        events = page["events"]
        assert isinstance(events, list)
        for raw in events:
            event = check_event(raw, after=store.cursor)
            stored += store.add(event)
        if once and not events:
            break
    return stored


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``seal-supervise``."""
    parser = argparse.ArgumentParser(prog="seal-supervise", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pull", help="follow the pull feed into DIR (JSONL + CSV per day); resumes after a crash")
    p.add_argument("--service", required=True, help="base URL of the one-seal service")
    p.add_argument("--key-file", required=True, help="file holding the department's supervisor API key")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--limit", type=int, default=500, help="events per request (1-1000)")
    p.add_argument("--wait", type=float, default=20, help="seconds the service holds a request open (0-60)")
    p.add_argument("--once", action="store_true", help="stop when caught up instead of following")
    p = sub.add_parser("serve-webhook", help="receive signed webhook deliveries into DIR")
    p.add_argument("--secret-file", required=True, help="file holding the subscription's whsec_ secret")
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--tolerance", type=int, default=DEFAULT_TOLERANCE, help="accepted clock skew in seconds")
    args = parser.parse_args(argv)
    stop = threading.Event()
    if args.command == "pull":
        if not 1 <= args.limit <= 1000 or not 0 <= args.wait <= 60:
            parser.error("--limit must be 1-1000 and --wait 0-60")
        key = _read_secret(args.key_file, "key")
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stored = pull(args.service, key, args.out, limit=args.limit, wait=args.wait, once=args.once, stop=stop)
        except (PullError, InvalidEvent) as exc:
            print(f"seal-supervise: {exc}", file=sys.stderr)
            return 1
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            print(f"seal-supervise: service unreachable: {exc}", file=sys.stderr)
            return 3
        except KeyboardInterrupt:
            return 0
        print(f"stored {stored} event(s) in {args.out}")
        return 0
    secret = _read_secret(args.secret_file, "secret")
    server = WebhookServer(secret, args.port, args.out, host=args.host, tolerance=args.tolerance)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"receiving webhooks on http://{args.host}:{server.port}/ into {args.out}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
