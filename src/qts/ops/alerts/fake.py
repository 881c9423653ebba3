"""Local stand-ins for the alert services, speaking their API shapes over real HTTP (for tests
and for trying alerts without accounts).

- Telegram Bot API: ``POST /bot<token>/sendMessage`` with JSON ``{chat_id, text}``; a known
  token gets ``{"ok": true, "result": {...}}``, another ``401 {"ok": false, ...}``;
- Slack incoming webhook: ``POST /services/<T>/<B>/<secret>`` with JSON ``{text}`` answers
  ``ok`` (``400 invalid_payload`` without text; ``404 no_service`` for another path);
- a generic webhook: ``POST /hook`` answers ``{}``.
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Services:
    telegram_token: str
    slack_path: str
    received: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base: str = ""

    def of(self, service: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for s, _path, body in self.received if s == service]


def _handler(services: Services) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            path = self.path
            if path.startswith("/bot") and path.endswith("/sendMessage"):
                token = path[len("/bot") : -len("/sendMessage")]
                if token != services.telegram_token:
                    return self._json(
                        401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
                    )
                if not isinstance(body, dict) or "chat_id" not in body or not body.get("text"):
                    return self._json(
                        400,
                        {
                            "ok": False,
                            "error_code": 400,
                            "description": "Bad Request: message text is empty",
                        },
                    )
                self._record("telegram", body)
                return self._json(
                    200,
                    {
                        "ok": True,
                        "result": {
                            "message_id": len(services.of("telegram")),
                            "chat": {"id": body["chat_id"]},
                            "text": body["text"],
                        },
                    },
                )
            if path.startswith("/services/"):
                if path != services.slack_path:
                    return self._text(404, "no_service")
                if not isinstance(body, dict) or not body.get("text"):
                    return self._text(400, "invalid_payload")
                self._record("slack", body)
                return self._text(200, "ok")
            if path == "/hook" and isinstance(body, dict):
                self._record("webhook", body)
                return self._json(200, {})
            return self._text(404, "not found")

        def _record(self, service: str, body: dict[str, Any]) -> None:
            with services.lock:
                services.received.append((service, self.path, body))

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._text(status, json.dumps(body), "application/json")

        def _text(self, status: int, text: str, ctype: str = "text/plain") -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def serve(services: Services) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(services))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    services.base = f"http://127.0.0.1:{server.server_address[1]}"
    return server
