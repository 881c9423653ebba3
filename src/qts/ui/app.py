"""The dashboard's HTTP surface (Starlette): the page, its data, its live stream, the recovery
approval, ``/health`` and ``/metrics``.

- ``GET /`` the page; ``GET /api/view`` the view as JSON; ``GET /api/stream`` server-sent events
  (``event: view``) whenever the view changes, and at least every ``heartbeat_s`` for the live
  timings;
- ``POST /api/safety/approve-recovery`` (JSON or URL-encoded: operator, reason) records an
  approval exactly like ``qts safety approve-recovery``; it needs the ``X-QTS-Request``
  header, which a cross-site form cannot send;
- ``GET /health`` readiness (200 ready, 503 not, with every check), ``GET /health/live`` 200;
- ``GET /metrics`` Prometheus text.

With a token every request must carry it (``Authorization: Bearer``, the ``qts_token`` cookie, or
``?token=`` once, which sets the cookie). The token is compared in constant time and never echoed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from qts.core.clock import WallClock
from qts.ops.health import health
from qts.ops.metrics import CONTENT_TYPE, registry_for, render
from qts.safety.state import RecoveryRefused
from qts.safety.supervisor import request_recovery
from qts.ui.cache import ViewCache
from qts.ui.page import PAGE

COOKIE = "qts_token"


def create_app(
    cache: ViewCache,
    *,
    token: str | None = None,
    heartbeat_s: float = 2.0,
    poll_s: float = 0.25,
    max_feed_age_s: float = 300.0,
    session_open: Callable[[datetime], bool] | None = None,
    stopping: threading.Event | None = None,
) -> Starlette:
    registry = registry_for(cache)
    store = cache.builder.store

    async def view_now() -> dict[str, Any]:
        return await to_thread.run_sync(cache.get)

    async def page(request: Request) -> Response:
        response = HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})
        given = request.query_params.get("token")
        if token and given:
            response.set_cookie(COOKIE, given, httponly=True, samesite="strict")
        return response

    async def api_view(request: Request) -> Response:
        return JSONResponse(await view_now())

    async def stream(request: Request) -> Response:
        async def events() -> AsyncIterator[str]:
            last_seq = -1
            last_sent = 0.0
            loop = asyncio.get_running_loop()
            while not (stopping is not None and stopping.is_set()):
                view = await view_now()
                now = loop.time()
                if view["seq"] != last_seq or now - last_sent >= heartbeat_s:
                    last_seq, last_sent = view["seq"], now
                    yield f"event: view\ndata: {json.dumps(view, separators=(',', ':'))}\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(poll_s)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    async def approve(request: Request) -> Response:
        if request.headers.get("x-qts-request") != "1":
            return JSONResponse({"error": "missing X-QTS-Request header"}, status_code=400)
        form = await _form(request)
        operator = form.get("operator", "").strip()
        reason = form.get("reason", "").strip()
        if not reason:
            return JSONResponse({"error": "a reason is required"}, status_code=400)

        def record() -> str:
            return request_recovery(store, operator, reason, WallClock().now())

        try:
            request_id = await to_thread.run_sync(record)
        except RecoveryRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"request_id": request_id})

    async def health_ready(request: Request) -> Response:
        overlay = cache.overlay

        def run() -> dict[str, Any]:
            return health(store, overlay, max_feed_age_s=max_feed_age_s, session_open=session_open)

        result = await to_thread.run_sync(run)
        return JSONResponse(result, status_code=200 if result["ready"] else 503)

    async def health_live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def metrics(request: Request) -> Response:
        body = await to_thread.run_sync(render, registry)
        return Response(body, media_type=CONTENT_TYPE)

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/view", api_view),
            Route("/api/stream", stream),
            Route("/api/safety/approve-recovery", approve, methods=["POST"]),
            Route("/health", health_ready),
            Route("/health/live", health_live),
            Route("/metrics", metrics),
        ]
    )
    if token:
        app.add_middleware(_TokenGate, token=token)
    return app


class _TokenGate:
    """Refuses every request without the token (ASGI middleware)."""

    def __init__(self, app: Callable[..., Awaitable[None]], token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = (
            _bearer(request.headers.get("authorization", ""))
            or request.cookies.get(COOKIE)
            or request.query_params.get("token")
            or ""
        )
        if not hmac.compare_digest(given.encode(), self.token):
            response = JSONResponse({"error": "token required"}, status_code=401)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _form(request: Request) -> dict[str, str]:
    """The approval's fields, sent as JSON (the page) or URL-encoded (curl, a plain form)."""
    body = await request.body()
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            data = json.loads(body or b"{}")
            return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return {k: v[0] for k, v in parse_qs(body.decode()).items()}
    except (ValueError, UnicodeDecodeError):
        return {}


def _bearer(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None
