"""The notifier adapters: how one alert becomes one HTTP request of each service.

- generic webhook: ``POST url`` with ``{"kind", "title", "text", "data"}``;
- Telegram Bot API: ``POST {api}/bot<token>/sendMessage`` with ``{"chat_id", "text"}``, answered
  ``{"ok": true, "result": ...}`` (``{"ok": false, "description"}`` is a refusal even with 200);
- Slack incoming webhook: ``POST url`` with ``{"text"}``, answered ``ok``.

Credentials (the bot token, the Slack webhook URL) come from the environment and live only in
the request URL: never in the text, and registered with the log redaction so that httpx's
request log cannot show them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from qts.brokers.redact import register_secrets
from qts.config.ops import AlertsSection

TELEGRAM_TOKEN_ENV = "QTS_TELEGRAM_TOKEN"  # noqa: S105 - the variable's name
SLACK_URL_ENV = "QTS_SLACK_WEBHOOK_URL"

Check = Callable[[httpx.Response], bool]


@dataclass(frozen=True, slots=True)
class Alert:
    """``kind``: safety | fill | day_report | heartbeat."""

    kind: str
    title: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)

    def message(self) -> str:
        return f"[QTS] {self.title}\n{self.text}" if self.text else f"[QTS] {self.title}"


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    def request(self, alert: Alert) -> tuple[str, dict[str, Any], Check | None]:
        """URL, JSON body and the answer check of the request that delivers ``alert``."""
        ...


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    url: str
    name: str = "webhook"

    def request(self, alert: Alert) -> tuple[str, dict[str, Any], Check | None]:
        body = {
            "kind": alert.kind,
            "title": alert.title,
            "text": alert.message(),
            "data": alert.data,
        }
        return self.url, body, None


def _telegram_ok(response: httpx.Response) -> bool:
    answer = response.json()
    return isinstance(answer, dict) and answer.get("ok") is True


@dataclass(frozen=True, slots=True)
class TelegramChannel:
    token: str = field(repr=False)
    chat_id: str
    api: str = "https://api.telegram.org"
    name: str = "telegram"

    def __post_init__(self) -> None:
        register_secrets(self.token)

    def request(self, alert: Alert) -> tuple[str, dict[str, Any], Check | None]:
        url = f"{self.api.rstrip('/')}/bot{self.token}/sendMessage"
        return url, {"chat_id": self.chat_id, "text": alert.message()}, _telegram_ok


def _slack_ok(response: httpx.Response) -> bool:
    return response.text.strip() == "ok"


@dataclass(frozen=True, slots=True)
class SlackChannel:
    url: str = field(repr=False)
    name: str = "slack"

    def __post_init__(self) -> None:
        register_secrets(self.url)

    def request(self, alert: Alert) -> tuple[str, dict[str, Any], Check | None]:
        return self.url, {"text": alert.message()}, _slack_ok


def channels_from_config(
    section: AlertsSection, env: Mapping[str, str] | None = None
) -> tuple[list[Channel], list[str]]:
    """The configured channels and the problems of the ones that cannot be built (named by
    setting, never showing a value)."""
    environ = os.environ if env is None else env
    channels: list[Channel] = []
    problems: list[str] = []
    if section.webhook_url:
        channels.append(WebhookChannel(section.webhook_url))
    if section.telegram_chat_id:
        token = environ.get(TELEGRAM_TOKEN_ENV, "")
        if token:
            channels.append(TelegramChannel(token, section.telegram_chat_id, section.telegram_api))
        else:
            problems.append(f"alerts.telegram_chat_id is set but {TELEGRAM_TOKEN_ENV} is not")
    if section.slack:
        url = environ.get(SLACK_URL_ENV, "")
        if url:
            channels.append(SlackChannel(url))
        else:
            problems.append(f"alerts.slack is on but {SLACK_URL_ENV} is not set")
    return channels, problems
