"""Structured logs with the standard library: JSON lines in production, readable lines in development.

Example::

    >>> import logging
    >>> logging.config.dictConfig(logging_config("production", "info"))       # doctest: +SKIP
    >>> log = logging.getLogger("seal_service.access")
    >>> log.info("request", extra={"fields": {"route": "/v1/licences", "status": 201}})   # doctest: +SKIP
    {"time": "2026-12-03T14:00:00.123Z", "level": "INFO", "logger": "seal_service.access", "message": "request",
     "request_id": "6f1c...", "route": "/v1/licences", "status": 201}

Every line carries the request id of the request being served (:data:`REQUEST_ID`, set by the HTTP layer), so
the lines of one request can be found across API workers and nodes. No log line may hold personal data (holder
names, ID numbers) or secrets (API keys, passphrases, PINs): code logs ids, never request bodies or headers, and
as a last guard :func:`redact` masks anything shaped like an API key or a resident ID number before a line is
written.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

#: Where ``serve`` leaves its ``--log-level`` for the processes it spawns (sealing processes).
LOG_LEVEL_ENV = "SEAL_SERVE_LOG_LEVEL"
#: The id of the request being served in this context (None outside requests).
REQUEST_ID: ContextVar[str | None] = ContextVar("seal_request_id", default=None)

#: API keys (``sk_<key id>_<secret>``): the secret part is masked, the key id kept (it names the key, not a secret).
_API_KEY = re.compile(r"\b(sk_k[0-9a-f]+_)[A-Za-z0-9_\-]+")
#: GB 11643 resident ID numbers (18 characters, the last may be X), and 15-digit old ones.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8,11}([0-9Xx])(?![0-9A-Za-z])")
_REDACT_HINT = re.compile(r"sk_|\d{15}")


def redact(text: str) -> str:
    """``text`` with API key secrets and resident ID numbers masked."""
    if not _REDACT_HINT.search(text):
        return text
    text = _API_KEY.sub(r"\1***", text)
    return _ID_NUMBER.sub(r"\1********\2", text)


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the record's ``fields``, error."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        line.update(_fields(record))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False, default=str))


class ReadableFormatter(logging.Formatter):
    """``time LEVEL logger [request id] message key=value ...``: for a developer's terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one readable line (plus a traceback, if any)."""
        request_id = REQUEST_ID.get()
        parts = [_timestamp(record), f"{record.levelname:<7}", record.name]
        if request_id is not None:
            parts.append(f"[{request_id}]")
        parts.append(record.getMessage())
        parts += [f"{key}={value}" for key, value in _fields(record).items()]
        text = " ".join(parts)
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return redact(text)


def logging_config(env: str, level: str, *, access_log: bool = True) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the server (also uvicorn's ``log_config``): every logger, uvicorn's
    included, writes through one formatter to stderr; uvicorn's own access log is replaced by the service's
    (``seal_service.access``: one line per request, with route template, status, duration and request id)."""
    formatter = "json" if env == "production" else "readable"
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": f"{__name__}.JsonFormatter"},
            "readable": {"()": f"{__name__}.ReadableFormatter"},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": formatter, "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            # fontTools lists every glyph it subsets at info: the characters of the text stamped on a licence.
            "fontTools": {"level": "WARNING"},
            # Built only when it is written: the line costs a cached QR page a noticeable share of its CPU.
            "seal_service.access": {"level": "INFO" if access_log and level in ("INFO", "DEBUG") else "WARNING"},
        },
    }
