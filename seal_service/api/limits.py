"""Refuse oversize uploads before they are read whole (pure ASGI middleware)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Room for multipart boundaries and form fields around the PDF itself.
MULTIPART_OVERHEAD = 64 * 1024


class _TooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the limit.

    An HTTPException so that FastAPI's body parsing passes it through as a 413 (it turns other exceptions
    raised while parsing into a 400).
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes (PDF limit plus form overhead)")


class UploadLimit:
    """Answers 413 (problem+json) when a POST body exceeds the limit: at once from Content-Length, or as soon as
    the streamed body passes it, so an oversize upload is never buffered whole."""

    def __init__(self, app: ASGIApp, *, max_body: Callable[[], int], paths: tuple[str, ...]) -> None:
        self.app = app
        self.max_body = max_body
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(self.paths):
            await self.app(scope, receive, send)
            return
        limit = self.max_body() + MULTIPART_OVERHEAD
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _refuse(send, limit)


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {
            "type": "https://one-seal.example/problems/too-large",
            "title": "Upload too large",
            "status": 413,
            "detail": f"the request body exceeds {limit} bytes (PDF limit plus form overhead)",
            "field": "pdf",
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
