"""The live path's view of a broker: its adapter, its trade prints, its quotes.

``qts run --broker kis|kiwoom`` needs the same few things from either broker: a
:class:`~qts.brokers.base.Broker` adapter for orders and fills, real-time trade prints stamped
with the venue's date and time (they make the minute bars and move the venue clock), and the
base prices (previous closes) of the universe. :func:`open_venue` builds the one chosen on the
command line from the environment; :mod:`qts.app.live` uses nothing broker-specific beyond it.

* **KIS**: H0STCNT0 prints over the KIS WebSocket carry ``BSOP_DATE`` + ``STCK_CNTG_HOUR``;
  fills arrive as H0STCNI0/9 notices. Base prices from inquire-price (``stck_sdpr``).
* **Kiwoom**: ``0B`` prints over Kiwoom's WebSocket carry only ``HHMMSS`` (FID 20); the date is
  the venue's trading date, read once from ka10080 (the newest minute bar) and again when the
  time of day steps back (a new day). Fills come from the adapter's account polling (Kiwoom's
  ``00`` push is not used). Base prices from ka10001 (``base_pric``).

**The venue's day.** An adapter dates its orders and reads "today's" orders and fills by the
run's clock, which is the venue's time only from the first trade print on (before it, the wall
clock: another day when ``qts sim serve`` replays a past day). So the part of an adapter that
follows the account's orders starts at :meth:`LiveVenue.start_orders`, which the live run calls
once the first print has set its clock (or, on a quiet market, once it has stopped waiting):
before that, a restarted Kiwoom adapter took its own orders of the venue's day for orders of an
earlier day and their fills for fills QTS never placed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Protocol

from qts.app.adoption import AccountSnapshot, Held
from qts.app.live_books import VENUES
from qts.brokers.base import Broker
from qts.brokers.kis import KisBroker, KisConfig, KisMode
from qts.brokers.kis import info as kis_info
from qts.brokers.kis.mapping import TradeTick
from qts.brokers.kiwoom import KiwoomBroker, KiwoomConfig, KiwoomMode
from qts.brokers.kiwoom.quotes import StockInfo, average_prices, stock_info, trading_date
from qts.brokers.kiwoom.quotes import instrument as kiwoom_instrument
from qts.brokers.kiwoom.realtime import INDEX, TRADE, KiwoomRealtime, RealTrade
from qts.core.clock import Clock
from qts.core.errors import ConfigError
from qts.core.time import KST
from qts.feeds.ticks_to_bars import Print
from qts.market.krx.calendar import KrxCalendar
from qts.model.instrument import Instrument

log = logging.getLogger(__name__)

NEW_DAY_STEP = timedelta(hours=1)  # a print this much earlier in the day than the last: next day


class LiveVenue(Protocol):
    """What the live path uses of a broker."""

    name: str

    @property
    def broker(self) -> Broker:
        """The adapter orders and fills go through."""
        ...

    def describe(self) -> str:
        """One line for the console: broker, account kind, masked account."""
        ...

    def start_orders(self) -> None:
        """Begin following the account's orders and fills: the run's clock now tells the
        venue's day (module docstring)."""
        ...

    def stop_reads_on(self, stop: threading.Event) -> None:
        """Once ``stop`` is set, reads give up instead of waiting for the rate limit (a paged
        inquiry takes seconds and would hold a SIGTERM up); orders still go out."""
        ...

    def subscribe(self, symbols: Sequence[str]) -> str:
        """Ask for the real-time trade prints of ``symbols``; returns what was asked."""
        ...

    def drain_prints(self) -> list[Print]:
        """Trade prints since the last call, stamped with the venue's date and time."""
        ...

    def base_prices(self, symbols: Sequence[str]) -> dict[str, int]:
        """Each symbol's base price (previous close) as the broker quotes it."""
        ...

    def describe_instrument(self, symbol: str) -> Instrument:
        """The instrument as the broker names it (name, market, stock or ETF)."""
        ...

    def account_snapshot(self) -> AccountSnapshot:
        """Cash and holdings (with the broker's average price) as the broker reports them."""
        ...

    def watch_index(self, code: str, poll_s: float) -> str:
        """Start reading volatility index ``code`` (polled every ``poll_s`` where the broker
        does not push it); returns how."""
        ...

    def drain_index(self) -> list[tuple[float, datetime]]:
        """Index values (level, venue time) since the last call."""
        ...

    def close_feeds(self) -> None:
        """Stop the market-data and index feeds (the adapter stays for the engine to close)."""
        ...

    def close(self) -> None: ...


def hms_at(day: date, hhmmss: str) -> datetime:
    h = hhmmss.strip().zfill(6)
    return datetime.combine(day, time(int(h[:2]), int(h[2:4]), int(h[4:6])), tzinfo=KST)


class KisVenue:
    """KIS: the adapter's H0STCNT0 prints and inquire-price quotes."""

    name = "kis"

    def __init__(self, config: KisConfig, adapter: KisBroker, clock: Clock) -> None:
        self.config = config
        self.broker: KisBroker = adapter
        self._clock = clock
        self._index: IndexPoller | None = None
        self.index_poll_s = 2.0

    def describe(self) -> str:
        return f"connected to KIS ({self.config.mode.value}, account {self.config.account_masked})"

    def start_orders(self) -> None:
        """Nothing to start: the KIS adapter reads the clock only when asked (reconciliation,
        polls), and its order records carry KIS's own order date (``ORD_DT``)."""

    def stop_reads_on(self, stop: threading.Event) -> None:
        self.broker.rest.interrupt = stop

    def subscribe(self, symbols: Sequence[str]) -> str:
        for symbol in symbols:
            self.broker.subscribe_trades(symbol)
        return f"subscribed H0STCNT0 for {len(symbols)} symbols"

    def drain_prints(self) -> list[Print]:
        out = []
        for ev in self.broker.drain_market():
            if isinstance(ev, TradeTick):
                out.append(Print(ev.symbol, self._time(ev), ev.price, ev.volume))
        return out

    def _time(self, tick: TradeTick) -> datetime:
        d = tick.bsop_date
        if len(d) == 8 and d.isdigit():
            day = date(int(d[:4]), int(d[4:6]), int(d[6:]))
        else:
            day = self._clock.now().astimezone(KST).date()
        return hms_at(day, tick.hour)

    def base_prices(self, symbols: Sequence[str]) -> dict[str, int]:
        return {s: self.broker.quote(s).base_price for s in symbols}

    def describe_instrument(self, symbol: str) -> Instrument:
        inst = kis_info.instrument(self.broker.rest, symbol)
        self.broker.instruments[symbol] = inst  # its fees (ETF tax) follow the broker's word
        return inst

    def account_snapshot(self) -> AccountSnapshot:
        _summary, holdings = self.broker.account()
        held = {
            h.symbol: Held(h.qty, round(h.avg_price) or (h.purchase_amount // h.qty))
            for h in holdings
            if h.qty > 0
        }
        return AccountSnapshot(self.broker.balance().cash, held)

    def watch_index(self, code: str, poll_s: float) -> str:
        rest, clock = self.broker.rest, self._clock
        self.index_poll_s = poll_s

        def read() -> float:
            return kis_info.index_value(rest, code, clock.now().astimezone(KST).strftime("%Y%m%d"))

        self._index = IndexPoller(read, clock, self.index_poll_s)
        self._index.start()
        return f"index {code} read every {self.index_poll_s:g} s (FHKUP03500100)"

    def drain_index(self) -> list[tuple[float, datetime]]:
        return self._index.drain() if self._index is not None else []

    def close_feeds(self) -> None:
        if self._index is not None:
            self._index.close()

    def close(self) -> None:
        self.close_feeds()
        self.broker.close()


class IndexPoller:
    """Reads an index value every ``interval_s`` on its own thread (KIS has no index push in
    the spec); a failed read is logged and retried at the next interval."""

    def __init__(self, read: Callable[[], float], clock: Clock, interval_s: float) -> None:
        self._read = read
        self._clock = clock
        self._interval = interval_s
        self._lock = threading.Lock()
        self._values: list[tuple[float, datetime]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="index-poller", daemon=True)
        self.reads = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def drain(self) -> list[tuple[float, datetime]]:
        with self._lock:
            out, self._values = self._values, []
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                value = self._read()
            except Exception as exc:  # the kill switch must not die with one bad answer
                self.failures += 1
                log.warning("index read failed: %s", exc)
            else:
                self.reads += 1
                with self._lock:
                    self._values.append((value, self._clock.now()))
            self._stop.wait(self._interval)


class KiwoomVenue:
    """Kiwoom: 0B prints from its WebSocket, the date from ka10080, quotes from ka10001."""

    name = "kiwoom"

    def __init__(self, config: KiwoomConfig, adapter: KiwoomBroker, clock: Clock) -> None:
        self.config = config
        self.broker: KiwoomBroker = adapter
        self._clock = clock
        auth = adapter.rest.auth
        self.realtime = KiwoomRealtime(
            config.ws_url, lambda: auth.header()[1], invalidate_token=auth.invalidate
        )
        self._day: date | None = None
        self._last: datetime | None = None
        self._info: dict[str, StockInfo] = {}  # ka10001 answers of this start-up
        self._indices: list[tuple[float, datetime]] = []  # 0J values taken with the prints

    def describe(self) -> str:
        kind = "mock" if self.config.mock else "real"
        acct = self.config.account_no.get_secret_value() if self.config.account_no else ""
        masked = f"******{acct[-2:]}" if len(acct) >= 2 else "(from ka00001)"
        return f"connected to Kiwoom ({kind}, account {masked})"

    def start_orders(self) -> None:
        """Start the adapter (its first read of the account and its poller), which dates
        orders and inquiries by the run's clock."""
        self.broker.start()

    def stop_reads_on(self, stop: threading.Event) -> None:
        self.broker.rest.interrupt = stop

    def subscribe(self, symbols: Sequence[str]) -> str:
        for symbol in symbols:
            self.realtime.register(TRADE, symbol)
        self.realtime.start()
        return f"subscribed 0B for {len(symbols)} symbols"

    def drain_prints(self) -> list[Print]:
        out = []
        for rec in self.realtime.drain():
            if isinstance(rec, RealTrade):
                out.append(Print(rec.symbol, self._time(rec), rec.price, rec.volume))
            else:
                day = self._day or self._clock.now().astimezone(KST).date()
                self._indices.append((rec.value, hms_at(day, rec.hhmmss)))
        return out

    def account_snapshot(self) -> AccountSnapshot:
        cash = self.broker.balance().cash
        rows = average_prices(self.broker.rest, self.config.exchange)
        return AccountSnapshot(cash, {s: Held(q, p) for s, (q, p) in rows.items()})

    def watch_index(self, code: str, poll_s: float) -> str:
        self.realtime.register(INDEX, code)
        return f"index {code} pushed as 0J"

    def drain_index(self) -> list[tuple[float, datetime]]:
        out, self._indices = self._indices, []
        return out

    def _time(self, rec: RealTrade) -> datetime:
        if self._day is not None:
            ts = hms_at(self._day, rec.hhmmss)
            if self._last is None or ts > self._last - NEW_DAY_STEP:
                self._last = max(ts, self._last) if self._last is not None else ts
                return ts
        self._day = self._venue_date(rec.symbol)
        ts = hms_at(self._day, rec.hhmmss)
        self._last = ts
        return ts

    def _venue_date(self, symbol: str) -> date:
        """The venue's trading date (ka10080), else the clock's date in KST."""
        try:
            found = trading_date(self.broker.rest, symbol)
        except Exception as exc:  # a date is needed either way; the clock's is the fallback
            log.warning("kiwoom ka10080 failed (%s); dating prints by the clock", exc)
            found = None
        if found is not None and (self._day is None or found >= self._day):
            return found
        return self._clock.now().astimezone(KST).date()

    def _stock_info(self, symbol: str) -> StockInfo:
        info = self._info.get(symbol)
        if info is None:
            info = self._info[symbol] = stock_info(self.broker.rest, symbol)
        return info

    def base_prices(self, symbols: Sequence[str]) -> dict[str, int]:
        return {s: self._stock_info(s).base_price for s in symbols}

    def describe_instrument(self, symbol: str) -> Instrument:
        """ka10001 names the stock and ka10100 lists its market (KOSPI, KOSDAQ, KONEX) and
        whether it is an ETF (docs/adr/0017-live-wire.md)."""
        info = self._stock_info(symbol)
        return kiwoom_instrument(self.broker.rest, symbol, info.name)

    def close_feeds(self) -> None:
        self.realtime.close()

    def close(self) -> None:
        self.close_feeds()
        self.broker.close()


def kis_config(account: str, env: Mapping[str, str]) -> KisConfig:
    """``KisConfig.from_env`` for the chosen account: paper reads ``KIS_VTS_*``, real
    ``KIS_REAL_*`` (``KIS_MODE`` is set from ``--account``)."""
    mode = "KIS_VTS" if account == "paper" else "KIS_REAL"
    config = KisConfig.from_env({**env, "KIS_MODE": mode})
    assert config.mode is (KisMode.PAPER if account == "paper" else KisMode.REAL)
    return config


def kiwoom_config(account: str, env: Mapping[str, str]) -> KiwoomConfig:
    """``KiwoomConfig.from_env`` for the chosen account: paper is Kiwoom's mock server
    (``KIWOOM_VTS_*``), real reads ``KIWOOM_REAL_*``."""
    mode = "KIWOOM_VTS" if account == "paper" else "KIWOOM_REAL"
    config = KiwoomConfig.from_env({**env, "KIWOOM_MODE": mode})
    assert config.mode is (KiwoomMode.MOCK if account == "paper" else KiwoomMode.REAL)
    return config


def open_venue(
    broker: str,
    account: str,
    env: Mapping[str, str],
    *,
    clock: Clock,
    instruments: Mapping[str, Instrument],
    calendar: KrxCalendar,
    order_map: Path | None = None,
    token_cache: Path | None = None,
) -> LiveVenue:
    """The adapter of ``broker`` for ``account``, connected (token, account check).
    ``order_map`` and ``token_cache`` are the adapter's durable files unless the environment
    names them (qts.app.live_books)."""
    if broker == "kis":
        kis = kis_config(account, env)
        kis = kis.model_copy(
            update={
                "state_path": kis.state_path or order_map,
                "token_cache_path": kis.token_cache_path or token_cache,
            }
        )
        adapter = KisBroker(kis, clock=clock, instruments=dict(instruments), calendar=calendar)
        return KisVenue(kis, adapter, clock)
    if broker == "kiwoom":
        kw = kiwoom_config(account, env)
        kw = kw.model_copy(
            update={
                "state_path": kw.state_path or order_map,
                "token_cache_path": kw.token_cache_path or token_cache,
            }
        )
        # the account is checked now; the orders are followed from start_orders on (the
        # clock may not tell the venue's day yet: module docstring)
        kiwoom = KiwoomBroker(kw, clock=clock, start=False)
        try:
            kiwoom.verify_account()
        except BaseException:
            kiwoom.close()
            raise
        return KiwoomVenue(kw, kiwoom, clock)
    raise ConfigError("command line", "--broker", f"no live path for broker {broker!r}")


__all__ = [
    "VENUES",
    "KisVenue",
    "KiwoomVenue",
    "LiveVenue",
    "kis_config",
    "kiwoom_config",
    "open_venue",
]
