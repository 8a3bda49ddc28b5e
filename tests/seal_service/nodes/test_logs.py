"""Log lines: JSON in production, readable in development, each with the request id; API key secrets and resident
ID numbers masked by the last filter even if some code logged them."""

from __future__ import annotations

import json
import logging
import sys

from seal_service.ops.logs import REQUEST_ID, JsonFormatter, ReadableFormatter, logging_config, redact

KEY = "sk_k1a2b3c4d5e6_Zx9-abcDEF_ghiJKLmnopQRSTuv"


def _record(
    message: str, *args: object, fields: dict[str, object] | None = None, exc: bool = False
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.LogRecord("seal_service.test", logging.WARNING, __file__, 1, message, args, exc_info)
    if fields is not None:
        record.fields = fields
    return record


def test_a_json_line_holds_time_level_logger_message_request_id_fields_and_error() -> None:
    token = REQUEST_ID.set("req-42")
    try:
        line = JsonFormatter().format(
            _record("sealed %s", "L123", fields={"route": "/v1/licences", "status": 201}, exc=True)
        )
    finally:
        REQUEST_ID.reset(token)
    parsed = json.loads(line)
    assert "\n" not in line  # one line per event, the traceback inside the JSON string
    assert (
        parsed["message"] == "sealed L123" and parsed["level"] == "WARNING" and parsed["logger"] == "seal_service.test"
    )
    assert parsed["request_id"] == "req-42" and parsed["route"] == "/v1/licences" and parsed["status"] == 201
    assert parsed["time"].endswith("Z") and "ValueError: boom" in parsed["error"]
    assert "request_id" not in json.loads(JsonFormatter().format(_record("outside a request")))


def test_a_readable_line_for_development() -> None:
    token = REQUEST_ID.set("req-7")
    try:
        line = ReadableFormatter().format(_record("request", fields={"route": "/healthz", "status": 200}))
    finally:
        REQUEST_ID.reset(token)
    assert "WARNING" in line and "[req-7] request route=/healthz status=200" in line


def test_secrets_and_id_numbers_are_masked_but_codes_and_identifiers_are_kept() -> None:
    text = (
        f"key {KEY} holder 11010519491231002X old 110105491231002 credit 11430000006122244L number 140500-20260000001"
    )
    masked = redact(text)
    assert KEY not in masked and "sk_k1a2b3c4d5e6_***" in masked  # the key id stays: it names the key
    assert "11010519491231002X" not in masked and "110105********X" in masked
    assert "110105491231002" not in masked
    assert "11430000006122244L" in masked and "140500-20260000001" in masked
    identifier = "1.2.156.3005.2.11100000MB01432171001.11140500MB01234568.20260000001.001.C"
    assert redact(identifier) == identifier
    assert KEY not in JsonFormatter().format(_record("presented %s", KEY))
    assert "11010519491231002X" not in ReadableFormatter().format(_record("holder %s", "11010519491231002X"))


def test_the_server_config_picks_the_format_by_environment_and_replaces_uvicorns_access_log() -> None:
    production, development = logging_config("production", "info"), logging_config("development", "info")
    assert production["handlers"]["stderr"]["formatter"] == "json"
    assert development["handlers"]["stderr"]["formatter"] == "readable"
    assert production["loggers"]["uvicorn.access"]["level"] == "CRITICAL"
    assert production["loggers"]["fontTools"]["level"] == "WARNING"  # it lists the glyphs of stamped text
    assert production["loggers"]["seal_service.access"]["level"] == "INFO"
    assert (
        logging_config("production", "info", access_log=False)["loggers"]["seal_service.access"]["level"] == "WARNING"
    )
    assert logging_config("production", "warning")["loggers"]["seal_service.access"]["level"] == "WARNING"
