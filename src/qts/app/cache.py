"""The run's hot cache, wired into the engine (spec §7, NG-4). The same in every mode; only the
backend differs (``cache.backend: memory|redis``).

Writers: every bar pushes the prices of the active symbols (``price:{symbol}``, the market-data
push); the order manager's position listener writes ``pos:{symbol}`` through after the store has
booked a fill; the ETEDA cycle refreshes every universe symbol's position and publishes
``risk:account`` once its marks are current; fills and order notices write ``ord:{id}`` through.

Readers: the micro risk loop's sync step (held symbols' prices before every snapshot, positions
on every change), the pre-trade gate (:class:`PreTradeView`: the account's risk state per cycle,
a symbol's price and held quantity per check), the scalp pipeline's PreCheck and the dashboard.

An open circuit breaker is reported as FS120 (ANOMALY: the state goes to WARNING, trading
continues from the store) through the event spine's P0 lane, so the alert never runs under the
order manager's or the store's locks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from qts.cache import CachedPosition, CacheManager, HotCache, PriceQuote, RiskState, open_backend
from qts.cache.breaker import BreakerState
from qts.cache.values import position_fields
from qts.core.clock import Clock
from qts.data.ports import TradingStore
from qts.engines.contracts import CalcData
from qts.engines.risk import AccountRisk, PreTradeInputs, RiskLimits
from qts.events import Dispatcher, DispatcherClosed, Event, EventPriority, EventType
from qts.execution.stages.precheck import PreCheckInputs
from qts.model.enums import OrderSide
from qts.model.frame import BarFrame
from qts.model.position import Position
from qts.risk.shadow import ShadowBook, ShadowSnapshot

if TYPE_CHECKING:
    from qts.app.scalp import ScalpWiring
    from qts.config.models import CacheSection
    from qts.execution.oms import OrderManager
    from qts.safety.supervisor import SafetySupervisor

log = logging.getLogger(__name__)
CACHE_ALERT = "CACHE_ALERT"
ORDER_UPDATE = "ORDER_UPDATE"  # the spine's order-notice event type


class CachedShadow:
    """The micro risk loop's view of the shadow: before each snapshot the held symbols' prices
    are read through the cache (one round trip) into the shadow."""

    def __init__(self, shadow: ShadowBook, cache: EngineCache) -> None:
        self.shadow = shadow
        self.cache = cache

    def snapshot(self) -> ShadowSnapshot:
        held = self.cache.held_symbols()
        if held:
            for q in self.cache.hot.prices(held).values():
                self.shadow.on_price(q.symbol, q.last, q.ts)
        return self.shadow.snapshot()


class CachedPreCheckInputs:
    """The scalp pipeline's PreCheck reading through the hot cache: the held quantity from
    ``pos:{symbol}``; in the final risk re-check a current ``price:{symbol}`` and, for a buy,
    the daily loss room of ``risk:account``. Live executions, cash, the broker, market hours and
    the safety state come from the run (``inner``)."""

    def __init__(self, inner: PreCheckInputs, cache: EngineCache) -> None:
        self.inner = inner
        self.cache = cache

    def has_live_execution(self, symbol: str, strategy: str, side: OrderSide) -> bool:
        return self.inner.has_live_execution(symbol, strategy, side)

    def position_qty(self, symbol: str) -> int:
        return self.cache.hot.position(symbol).qty

    def available_cash(self) -> int:
        return self.inner.available_cash()

    def broker_connected(self) -> bool:
        return self.inner.broker_connected()

    def reconnect(self) -> bool:
        return self.inner.reconnect()

    def market_open(self, symbol: str, now: datetime) -> bool:
        return self.inner.market_open(symbol, now)

    def risk_check(self, symbol: str, side: OrderSide, qty: int, price: int) -> str:
        reason = self.inner.risk_check(symbol, side, qty, price)
        if reason:
            return reason
        if self.cache.hot.prices([symbol]).get(symbol) is None:
            return f"no current price:{symbol}"
        risk = self.cache.hot.risk()
        if (
            side is OrderSide.BUY
            and risk is not None
            and risk.daily_loss_limit < 0
            and risk.daily_pnl <= risk.daily_loss_limit
        ):
            return f"daily loss {risk.daily_pnl:,} at its limit {risk.daily_loss_limit:,}"
        return ""


class EngineCache:
    def __init__(
        self,
        hot: HotCache,
        oms: OrderManager,
        limits: RiskLimits,
    ) -> None:
        self.hot = hot
        self.manager = hot.manager
        self.oms = oms
        self.limits = limits
        self._dispatcher: Dispatcher | None = None
        self._safety: SafetySupervisor | None = None
        # flat positions' cached values (at a positive equity), kept by the position listener:
        # a flat position changes only through a fill, which the listener hears of
        self._flat: dict[str, CachedPosition] | None = None

    @classmethod
    def open(
        cls,
        section: CacheSection | None,
        *,
        run_id: str,
        clock: Clock,
        store: TradingStore,
        oms: OrderManager,
        limits: RiskLimits,
    ) -> EngineCache:
        backend_name = section.backend if section is not None else "memory"
        url = section.url if section is not None else None
        prefix = (section.prefix if section is not None else None) or f"qts:{run_id}:"
        backend = open_backend(backend_name, url, prefix, clock)
        manager = CacheManager(backend, clock)
        cache = cls(HotCache(manager, store), oms, limits)
        manager.alert = cache._alert
        return cache

    # --- wiring ------------------------------------------------------------------------------

    def attach(self, dispatcher: Dispatcher, safety: SafetySupervisor) -> None:
        """Subscribe after the spine's own handlers: the fill is booked (store first) before
        the cache hears of it."""
        self._dispatcher = dispatcher
        self._safety = safety
        dispatcher.subscribe(EventType.FILL_RECEIVED, self._on_fill)
        dispatcher.subscribe(ORDER_UPDATE, self._on_order_update)
        dispatcher.subscribe(CACHE_ALERT, self._on_alert)

    def _alert(self, message: str) -> None:
        d = self._dispatcher
        if d is None:
            return
        try:
            d.publish(Event(CACHE_ALERT, EventPriority.P0, message, "cache", "CACHE"))
        except DispatcherClosed:
            log.error("cache alert after the spine stopped: %s", message)

    def _on_alert(self, event: Event) -> None:
        if self._safety is not None:
            self._safety.report("FS120", str(event.payload))

    def _on_fill(self, event: Event) -> None:
        order = self.oms.orders.get(event.payload.client_order_id)
        if order is not None:
            self.hot.write_order(order)

    def _on_order_update(self, event: Event) -> None:
        order = self.oms.orders.get(event.payload.client_order_id)
        if order is not None:
            self.hot.write_order(order)

    def wire_scalp(self, scalp: ScalpWiring) -> None:
        """The scalp pipeline's PreCheck reads through the cache from now on."""
        scalp.pipeline.inputs = CachedPreCheckInputs(scalp.inputs, self)

    # --- writers -----------------------------------------------------------------------------

    def on_frame(self, frame: BarFrame) -> None:
        """The market-data push: the bar's closes are the symbols' latest prints."""
        self.hot.push_frame(
            frame.universe.symbols, frame.close, frame.volume, frame.active, frame.end
        )

    def on_tick(self, symbol: str, price: int, ts: datetime) -> None:
        """A P1 price tick: market data like any other, pushed to ``price:{symbol}`` (the micro
        risk loop's sync step reads it from there)."""
        if price <= 0:
            return
        known = self.hot.board(symbol)
        volume = known.volume if known is not None else 0
        self.hot.push_prices([PriceQuote(symbol, price, price, price, volume, ts)])

    def on_position(self, pos: Position) -> None:
        """Position listener (under the order manager's lock, after the store booked the fill)."""
        risk = self.hot.last_risk
        equity = risk.equity if risk else 0
        universe = self.oms.universe
        if pos.symbol in universe:
            # held with the other fills' until positions are next read or written, then one
            # block over the cycle's column; the value is made when read, if ever (the cycle's
            # own block write replaces it before most reads)
            fields = position_fields(pos)
            self.hot.write_position(
                universe.symbols,
                universe.index(pos.symbol),
                lambda: CachedPosition.of_fields(fields, equity),
            )
        else:
            self.hot.write_positions([CachedPosition.of(pos, equity)])
        if self._flat is not None:
            if pos.qty:
                self._flat.pop(pos.symbol, None)
            else:
                self._flat[pos.symbol] = CachedPosition.of(pos, 1)

    def after_transform(self, calc: CalcData) -> None:
        """The cycle's marks are current: publish the risk state, refresh every position."""
        account = calc.raw.account
        day_start = account.day_start_equity
        loss_limit = (
            -int(self.limits.daily_loss_limit * day_start)
            if self.limits.daily_loss_limit is not None
            else 0
        )
        daily = int(calc.daily_pnl)
        equity = int(calc.total_equity)
        self.hot.publish_risk(
            RiskState(
                equity=equity,
                day_start_equity=day_start,
                exposure_used=int(calc.exposure_value.sum()),
                daily_pnl=daily,
                trade_count=account.entries_today,
                max_exposure_pct=Decimal(str(self.limits.max_exposure)),
                daily_loss_limit=loss_limit,
                remaining_limit=max(0, daily - loss_limit) if loss_limit else 0,
            )
        )
        symbols = self.oms.universe.symbols
        with self.oms.lock:
            flat = self._flat
            if flat is None:
                if self.on_position not in self.oms.position_listeners:
                    self.oms.position_listeners.append(self.on_position)
                flat = self._flat = {
                    s: CachedPosition.of(p, 1)
                    for s, p in self.oms.account.positions.items()
                    if not p.qty
                }
            # the held positions' fields as of now, by universe column (the order manager's
            # quantity column says which are held); their values are made when read (most
            # never are: a cycle reads the few symbols it trades)
            books = self.oms.account.positions
            held = {
                i: position_fields(books[symbols[i]])
                for i in np.flatnonzero(self.oms.qty > 0).tolist()
            }
        zero = equity <= 0

        def make(i: int) -> CachedPosition:
            s = symbols[i]
            f = held.get(i)
            if f is not None:
                return CachedPosition.of_fields(f, equity)
            cp = flat.get(s)
            if cp is None:
                return CachedPosition.flat(s)
            return replace(cp, exposure_pct=Decimal(0)) if zero else cp

        self.hot.write_position_block(symbols, make)

    # --- readers -----------------------------------------------------------------------------

    def held_symbols(self) -> list[str]:
        with self.oms.lock:
            return [p.symbol for p in self.oms.account.open_positions()]

    def pretrade(self, symbol: str) -> PreTradeInputs:
        """PreTradeView: the symbol's current price and held quantity, through the cache."""
        q = self.hot.prices([symbol]).get(symbol)
        return PreTradeInputs(q.last if q is not None else None, self.hot.position(symbol).qty)

    def pretrade_many(self, symbols: Sequence[str]) -> dict[str, PreTradeInputs]:
        """:meth:`pretrade` of several symbols: one read of each family for all of them."""
        prices = self.hot.prices(symbols)
        held = self.hot.positions(symbols)
        out: dict[str, PreTradeInputs] = {}
        for s in symbols:
            q, p = prices.get(s), held.get(s)
            out[s] = PreTradeInputs(None if q is None else q.last, 0 if p is None else p.qty)
        return out

    def account_risk(self) -> AccountRisk | None:
        r = self.hot.risk()
        return None if r is None else AccountRisk(r.exposure_used, r.daily_pnl, r.day_start_equity)

    # --- reporting ---------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        return self.manager.backend.name

    @property
    def breaker(self) -> BreakerState:
        return self.manager.breaker.state

    def report(self) -> dict[str, Any]:
        self.hot.flush()
        return {"backend": self.backend, **self.manager.metrics.snapshot()}

    def close(self) -> None:
        self.hot.flush()
        self.manager.close()


def print_cache_report(cache: EngineCache) -> None:
    """The run's cache figures: one readable line, then one JSON line (``cache metrics {...}``)
    that scripts and tests read."""
    report = cache.report()
    parts = []
    for fam in ("price", "pos", "risk", "ord"):
        f = report.get(fam)
        if f and f["reads"]:
            parts.append(f"{fam} hit {f['hit_rate']:.2%} of {f['reads']:,}")
    print(
        f"cache ({report['backend']}): "
        + (", ".join(parts) or "no reads")
        + f"; breaker opened {report['breaker_opened']}x, closed {report['breaker_closed']}x",
        flush=True,
    )
    for alert in cache.manager.metrics.alerts():  # spec §7.6: under 85 % is worth a look
        print(f"cache alert: {alert}", flush=True)
    print("cache metrics " + json.dumps(report, sort_keys=True), flush=True)
