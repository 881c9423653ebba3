"""Alerts to people: safety transitions, fills (optional), the end-of-day report and a missed
heartbeat, through notifier adapters for a generic webhook, the Telegram Bot API and a Slack
incoming webhook. Every adapter posts through the safety notifier's :class:`PostQueue`, from a
background thread: an alert service that is slow or down never delays trading."""

from qts.ops.alerts.channels import (
    Alert,
    Channel,
    SlackChannel,
    TelegramChannel,
    WebhookChannel,
    channels_from_config,
)
from qts.ops.alerts.router import AlertRouter

__all__ = [
    "Alert",
    "AlertRouter",
    "Channel",
    "SlackChannel",
    "TelegramChannel",
    "WebhookChannel",
    "channels_from_config",
]
