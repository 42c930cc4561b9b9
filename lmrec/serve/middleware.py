"""One pure-ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware): body-size limit (413) and per-request
metrics labelled by route template, so /items/42 and /items/43 share one series."""

from __future__ import annotations

import json
import time
from typing import Any

from lmrec.serve.metrics import Metrics

Message = dict[str, Any]


class Guard:
    def __init__(self, app: Any, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app, self.metrics, self.max_body_bytes = app, metrics, int(max_body_bytes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            receive = await self._limited(scope, receive, send_status)
            if receive is not None:
                await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(scope["method"], route, status[0], time.perf_counter() - started)

    async def _limited(self, scope: dict, receive: Any, send: Any) -> Any:
        """`receive` when the body is within the limit (a replaying one for bodies without Content-Length);
        None after answering 413 / 400."""
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _reply(send, 400, "invalid Content-Length header")
                return None
            if int(declared) > self.max_body_bytes:
                await _reply(send, 413, f"request body is {int(declared)} bytes; the limit is {self.max_body_bytes}")
                return None
            return receive
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return receive
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_body_bytes:
                await _reply(send, 413, f"request body is over the limit of {self.max_body_bytes} bytes")
                return None
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


async def _reply(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
