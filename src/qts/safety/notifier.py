"""Where safety events go besides the history: the log, a webhook, and the alert channels of
qts.ops.alerts (Telegram, Slack), which post through the same :class:`PostQueue`.

A notifier must never stop trading: the webhook posts from its own thread and only logs failures.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from qts.safety.codes import CATALOGUE
from qts.safety.state import SafetyEvent, SafetyState

if TYPE_CHECKING:  # httpx is imported by the first PostQueue: a backtest never posts
    import httpx

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


class PostQueue:
    """POSTs JSON documents from one background thread, in order; used by the safety webhook and
    by the alert channels (qts.ops.alerts). A failure is counted and logged by its type only: a
    URL may hold a credential (a Telegram bot token, a Slack webhook path). ``check`` looks at a
    response beyond its status (Telegram answers 200 with ``{"ok": false}`` too)."""

    def __init__(
        self, name: str = "webhook", timeout: float = 5.0, client: httpx.Client | None = None
    ) -> None:
        import httpx

        self.name = name
        self._client = client or httpx.Client(timeout=timeout)
        self._queue: queue.Queue[_Post | None] = queue.Queue()
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name=f"post-{name}", daemon=True)
        self._thread.start()

    def post(
        self,
        url: str,
        body: dict[str, Any],
        check: Callable[[httpx.Response], bool] | None = None,
        label: str = "",
    ) -> None:
        self._queue.put(_Post(url, body, check, label or self.name))

    def _run(self) -> None:
        import httpx

        while (item := self._queue.get()) is not None:
            try:
                response = self._client.post(item.url, json=item.body)
                response.raise_for_status()
                if item.check is not None and not item.check(response):
                    raise httpx.HTTPError("the service refused the message")
                self.sent += 1
            except (httpx.HTTPError, ValueError) as exc:
                self.failed += 1
                log.warning("%s failed: %s", item.label, type(exc).__name__)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued document was posted (or failed)."""
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._client.close()


@dataclass(frozen=True, slots=True)
class _Post:
    url: str
    body: dict[str, Any]
    check: Callable[[httpx.Response], bool] | None
    label: str


class WebhookNotifier:
    """POSTs each event as JSON to ``url`` from a background thread, in order."""

    def __init__(self, url: str, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self.url = url
        self.poster = PostQueue("safety webhook", timeout, client)

    @property
    def sent(self) -> int:
        return self.poster.sent

    @property
    def failed(self) -> int:
        return self.poster.failed

    def notify(self, event: SafetyEvent) -> None:
        self.poster.post(self.url, event_json(event))

    def flush(self) -> None:
        """Wait until every queued event was posted (or failed)."""
        self.poster.flush()

    def close(self) -> None:
        self.poster.close()
