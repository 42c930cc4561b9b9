"""Pure-ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware): `Guard`, the body-size limit (413) and
per-request metrics labelled by route template, so /items/42 and /items/43 share one series; `DirectRoute`, the
hot route dispatched straight to its endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

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


class DirectRoute:
    """One route (POST /recommend) handed straight to its endpoint, past the router, the dependency solver and
    the exception middleware, which cost about a third of the server's CPU per request at concurrency 32
    (bench/results/serve_load.md). The endpoint, its exception handlers and `route` (for the metrics label)
    are the app's own, so answers and errors are those of the routed path; every other request goes on."""

    def __init__(self, app: Any, *, method: str, route: Any, endpoint: Callable[[Request], Awaitable[Response]],
                 handlers: Mapping[Any, Callable[..., Awaitable[Response]]]) -> None:
        self.app, self.method, self.route, self.endpoint, self.handlers = app, method, route, endpoint, handlers

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != self.method or scope["path"] != self.route.path:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:
            handler = next((self.handlers[kind] for kind in type(exc).__mro__ if kind in self.handlers), None)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)


async def _reply(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
