"""Market time: KRX runs on Asia/Seoul; storage keeps UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")


def kst(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A timezone-aware KST datetime."""
    return datetime(year, month, day, hour, minute, second, tzinfo=KST)


def at(day: date, clock_time: time) -> datetime:
    """Combine a trading date and a KST wall-clock time."""
    return datetime.combine(day, clock_time, tzinfo=KST)


def require_aware(ts: datetime, what: str = "timestamp") -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {ts.isoformat()}")
    return ts


def to_utc_iso(ts: datetime) -> str:
    return require_aware(ts).astimezone(UTC).isoformat()


def from_iso(text: str) -> datetime:
    ts = datetime.fromisoformat(text)
    return require_aware(ts, f"timestamp {text!r}")


def parse_duration(text: str) -> timedelta:
    """Parse '90s', '15m', '2h', '1d', '3d12h' into a timedelta."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total = 0
    number = ""
    if not text:
        raise ValueError("duration is empty")
    for ch in text.strip().lower():
        if ch.isdigit():
            number += ch
        elif ch in units and number:
            total += int(number) * units[ch]
            number = ""
        else:
            raise ValueError(f"duration {text!r}: expected e.g. 90s, 15m, 2h, 1d")
    if number:
        raise ValueError(f"duration {text!r}: the last number has no unit (s, m, h, d, w)")
    return timedelta(seconds=total)
