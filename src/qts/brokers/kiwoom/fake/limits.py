"""Rate limits: a token bucket per api-id and one over all of them, and the reply a caller over
its limit gets (HTTP 429, ``return_code`` 5 / 1700, or the two in turn, per the config).

Its own module because the limit is checked before anything else an endpoint does, the same
way for every endpoint, and a fault can force the same reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qts.brokers.kiwoom import mapping as m
from qts.brokers.kiwoom.fake.config import CodeStyle, Limit, LimitReply
from qts.brokers.kiwoom.fake.wire import Reply

if TYPE_CHECKING:
    from qts.brokers.kiwoom.fake.server import FakeKiwoom


class Bucket:
    def __init__(self, limit: Limit, now: float) -> None:
        self.interval = 1.0 / limit.rate
        self.tolerance = (limit.burst - 1) * self.interval
        self.tat = now

    def fits(self, now: float) -> bool:
        return now >= self.tat - self.tolerance

    def take(self, now: float) -> None:
        self.tat = max(self.tat, now) + self.interval


def limit_reply(kiwoom: FakeKiwoom, api_id: str) -> Reply:
    with kiwoom._lock:
        kiwoom.limited[api_id] = kiwoom.limited.get(api_id, 0) + 1
    text = "허용된 요청 개수를 초과하였습니다"
    msg = f"{text}[1700:{text}. API ID={api_id}]"
    code = 1700 if kiwoom.config.code_style is CodeStyle.DETAIL else 5
    style = kiwoom.config.limit_reply
    if style is LimitReply.ALTERNATE:
        turn = next(kiwoom._limit_turn)
        style = LimitReply.HTTP_429 if turn % 2 == 0 else LimitReply.RETURN_CODE
    status = 429 if style is LimitReply.HTTP_429 else 200
    return Reply(status, {"return_code": code, "return_msg": msg})


def check_rate(kiwoom: FakeKiwoom, api_id: str) -> None:
    now = kiwoom._monotonic()
    with kiwoom._lock:
        limit = kiwoom.config.limits.get(api_id, kiwoom.config.per_api)
        buckets: list[Bucket] = []
        if limit is not None:
            bucket = kiwoom._buckets.get(api_id)
            if bucket is None:
                bucket = kiwoom._buckets[api_id] = Bucket(limit, now)
            buckets.append(bucket)
        if kiwoom.config.overall is not None and api_id not in (m.TOKEN, m.REVOKE):
            if kiwoom._overall is None:
                kiwoom._overall = Bucket(kiwoom.config.overall, now)
            buckets.append(kiwoom._overall)
        ok = all(b.fits(now) for b in buckets)
        if ok:
            for b in buckets:
                b.take(now)
    if not ok:
        raise limit_reply(kiwoom, api_id)
