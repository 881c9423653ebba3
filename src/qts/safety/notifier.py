"""Where safety events go besides the history: the log, and a webhook (Slack/Telegram later).

A notifier must never stop trading: the webhook posts from its own thread and only logs failures.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Protocol

import httpx

from qts.safety.codes import CATALOGUE
from qts.safety.state import SafetyEvent, SafetyState

log = logging.getLogger("qts.safety")


class Notifier(Protocol):
    def notify(self, event: SafetyEvent) -> None: ...


def event_json(event: SafetyEvent) -> dict[str, Any]:
    meaning = CATALOGUE[event.code].meaning if event.code in CATALOGUE else ""
    return {
        "ts": event.ts.isoformat(),
        "kind": event.kind,
        "code": event.code,
        "meaning": meaning,
        "message": event.message,
        "state_before": event.state_before.value,
        "state_after": event.state_after.value,
        "operator": event.operator,
    }


def format_event(event: SafetyEvent) -> str:
    head = f"[{event.state_after}] {event.code or event.kind}"
    move = f" ({event.state_before} -> {event.state_after})" if event.transition else ""
    who = f" by {event.operator}" if event.operator else ""
    return f"{head} | {event.message}{move}{who}"


class LogNotifier:
    def notify(self, event: SafetyEvent) -> None:
        level = (
            logging.ERROR
            if event.state_after in (SafetyState.FAIL, SafetyState.LOCKDOWN)
            else (
                logging.WARNING if event.transition or event.code.startswith("FS") else logging.INFO
            )
        )
        log.log(level, "%s", format_event(event))


class WebhookNotifier:
    """POSTs each event as JSON to ``url`` from a background thread, in order."""

    def __init__(self, url: str, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self.url = url
        self._client = client or httpx.Client(timeout=timeout)
        self._queue: queue.Queue[SafetyEvent | None] = queue.Queue()
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="safety-webhook", daemon=True)
        self._thread.start()

    def notify(self, event: SafetyEvent) -> None:
        self._queue.put(event)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._client.post(self.url, json=event_json(event)).raise_for_status()
                self.sent += 1
            except httpx.HTTPError as exc:
                self.failed += 1
                log.warning("safety webhook failed: %s", type(exc).__name__)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued event was posted (or failed)."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._client.close()
