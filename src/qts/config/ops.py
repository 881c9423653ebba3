"""Configuration of the operator's surface: dashboard, alerts, backups.

Secrets are read from the environment, never from these sections' files: the dashboard token
(``QTS_DASHBOARD_TOKEN``; ``dashboard.token`` exists for tests and containers that template it),
the Telegram bot token (``QTS_TELEGRAM_TOKEN``) and the Slack webhook URL
(``QTS_SLACK_WEBHOOK_URL``, which is itself a credential).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DashboardSection(_Section):
    enabled: bool = Field(True, description="serve the web dashboard from qts run")
    host: str = Field("127.0.0.1", description="anything but loopback needs a token")
    port: int = Field(8765, ge=0, le=65535, description="0: any free port")
    token: str | None = Field(None, description="default QTS_DASHBOARD_TOKEN")
    sheets: bool = Field(
        False, description="also write Strategy/Portfolio/Performance/Dividend/R_Dash to Sheets"
    )
    sheets_interval_s: float = Field(10.0, ge=2.0, description="at most one Sheets write per")


class AlertsSection(_Section):
    webhook_url: str | None = Field(None, description="POST alerts as JSON {text, kind, ...}")
    telegram_chat_id: str | None = Field(None, description="bot token from QTS_TELEGRAM_TOKEN")
    telegram_api: str = Field("https://api.telegram.org", description="Bot API base URL")
    slack: bool = Field(False, description="post to QTS_SLACK_WEBHOOK_URL")
    fills: bool = Field(False, description="alert every fill (safety and reports always)")
    end_of_day: bool = Field(True, description="send the day report after the close")
    heartbeat_s: float = Field(
        0.0, ge=0, description="alert when no cycle ran for this long in session (0: off)"
    )


class BackupSection(_Section):
    dir: str | None = Field(None, description="default: <db>.backups next to the database")
    interval_min: float = Field(0.0, ge=0, description="online backup every N minutes (0: off)")
    keep: int = Field(14, ge=1, le=10_000, description="newest backups kept")
