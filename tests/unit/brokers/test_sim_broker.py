"""SimBroker: the Broker port, the venue account, fees and tax on fills, and the money identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_kit import D1, D2, INSTRUMENTS, KAKAO, KODEX, SAMSUNG, at, day_frame, flat, frame

from qts.brokers.base import Broker, OrderRequest, OrderUpdate
from qts.brokers.sim import MarketBuyHold, RejectCode, SimBroker, SimConfig
from qts.core.clock import SimulatedClock
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.fees import KrxFees, NoFees
from qts.market.krx.price_limit import daily_limits
from qts.market.krx.tick_size import is_on_tick, step
from qts.model.enums import OrderSide, OrderStatus, OrderType
from qts.model.fill import Fill

BUY, SELL = OrderSide.BUY, OrderSide.SELL
LIMIT, MARKET = OrderType.LIMIT, OrderType.MARKET
REF = {SAMSUNG: 70_000, KAKAO: 50_000, KODEX: 35_000}
CAL = KrxCalendar()


def make(
    start: datetime,
    cash: int = 10_000_000,
    holdings: dict[str, int] | None = None,
    config: SimConfig | None = None,
    fees: KrxFees | NoFees | None = None,
) -> tuple[SimBroker, SimulatedClock]:
    clock = SimulatedClock(start)
    broker = SimBroker(
        INSTRUMENTS,
        clock,
        initial_cash=cash,
        holdings=holdings,
        config=config,
        fees=fees if fees is not None else KrxFees(),
        reference_prices=REF,
    )
    return broker, clock


def test_sim_broker_is_a_broker() -> None:
    broker: Broker = make(at(D1, 8))[0]
    assert broker.name == "sim"


def test_fill_carries_commission_and_2026_kospi_tax() -> None:
    broker, clock = make(at(D1, 8, 50))
    broker.submit(OrderRequest("b", SAMSUNG, BUY, MARKET, 100))
    clock.advance_to(at(D1, 9, 1))
    [buy] = broker.on_frame(frame(at(D1, 9), {SAMSUNG: flat(70_000)}))
    assert isinstance(buy, Fill)
    assert (buy.commission, buy.tax) == (983, 0)  # floor(7,000,000 × 0.0140527 %)

    clock.advance_to(at(D2, 8, 50))
    broker.submit(OrderRequest("s", SAMSUNG, SELL, LIMIT, 100, 71_000))
    clock.advance_to(at(D2, 9, 1))
    [sell] = broker.on_frame(frame(at(D2, 9), {SAMSUNG: flat(71_000)}))
    assert isinstance(sell, Fill)
    # settles 2026-03-09: KOSPI 0.05 % transaction tax + 0.15 % rural special tax = 0.20 %
    assert (sell.commission, sell.tax) == (997, 3_550 + 10_650)
    balance = broker.balance()
    assert balance.holdings == {}
    assert balance.cash == 10_000_000 - 7_000_983 + 7_100_000 - 997 - 14_200


def test_sell_tax_is_keyed_by_settlement_date() -> None:
    """A sell on 2025-12-29 settles 2026-01-02 and pays 2026's 0.20 %; 12-26's pays 0.15 %."""
    ref = {SAMSUNG: 100_000}
    for trade_day, tax in ((date(2025, 12, 26), 15_000), (date(2025, 12, 29), 20_000)):
        clock = SimulatedClock(at(trade_day, 8, 50))
        broker = SimBroker(
            INSTRUMENTS, clock, initial_cash=0, holdings={SAMSUNG: 100}, reference_prices=ref
        )
        broker.submit(OrderRequest("s", SAMSUNG, SELL, MARKET, 100))
        [fill] = broker.on_frame(frame(at(trade_day, 9), {SAMSUNG: flat(100_000)}))
        assert isinstance(fill, Fill) and fill.tax == tax


def test_kosdaq_and_etf_taxes() -> None:
    broker, _clock = make(at(D1, 8, 50), cash=0, holdings={KAKAO: 10, KODEX: 10})
    broker.submit(OrderRequest("k", KAKAO, SELL, MARKET, 10))
    broker.submit(OrderRequest("e", KODEX, SELL, MARKET, 10))
    events = broker.on_frame(frame(at(D1, 9), {KAKAO: flat(50_000), KODEX: flat(35_000)}))
    taxes = {e.symbol: e.tax for e in events if isinstance(e, Fill)}
    assert taxes == {KAKAO: 1_000, KODEX: 0}  # KOSDAQ 0.20 %; ETFs pay no sell tax


def test_ids_are_deterministic_and_time_comes_from_the_clock() -> None:
    broker, clock = make(at(D1, 8, 50), fees=NoFees())
    acks = [broker.submit(OrderRequest(f"c{i}", SAMSUNG, BUY, MARKET, 1)) for i in range(3)]
    assert [a.venue_order_id for a in acks] == ["S0000000001", "S0000000002", "S0000000003"]
    broker.on_frame(frame(at(D1, 9), {SAMSUNG: flat(70_000)}))
    assert [f.fill_id for f in broker.fills()] == ["F0000000001", "F0000000002", "F0000000003"]
    # the clock, not the wall, decides the day an order belongs to
    clock.advance_to(at(D1, 20))
    broker.submit(OrderRequest("late", SAMSUNG, BUY, LIMIT, 1, 60_000))
    sim = broker.exchange.sim_order("late")
    assert sim is not None and sim.day == D2 and sim.submitted_at == at(D1, 20)


def test_limit_buy_holds_cash_until_it_fills_or_ends() -> None:
    broker, _clock = make(at(D1, 10), cash=1_000_000, fees=NoFees())
    assert broker.submit(OrderRequest("a", SAMSUNG, BUY, LIMIT, 10, 70_000)).accepted
    over = broker.submit(OrderRequest("b", SAMSUNG, BUY, LIMIT, 5, 70_000))
    assert (over.accepted, over.code) == (False, RejectCode.INSUFFICIENT_CASH)
    assert "free cash is 300000" in over.reason
    broker.cancel("a")
    assert broker.submit(OrderRequest("c", SAMSUNG, BUY, LIMIT, 5, 70_000)).accepted
    assert broker.account.free_cash == 650_000


def test_limit_buy_filled_below_its_limit_releases_the_difference() -> None:
    broker, _clock = make(at(D1, 8, 50), cash=1_000_000, fees=NoFees())
    broker.submit(OrderRequest("a", SAMSUNG, BUY, LIMIT, 10, 70_000))
    broker.on_frame(frame(at(D1, 9), {SAMSUNG: flat(69_000)}))
    assert broker.account.held_cash == 0
    assert broker.account.free_cash == broker.balance().cash == 1_000_000 - 690_000


def test_market_buy_holds_cash_at_the_upper_limit() -> None:
    broker, _clock = make(at(D1, 10), cash=1_000_000)
    # base 70,000 -> upper 91,000; 10 × 91,000 + commission 127 fits, 11 does not
    assert broker.submit(OrderRequest("a", SAMSUNG, BUY, MARKET, 10)).accepted
    assert broker.account.held_cash == 910_127
    broker.cancel("a")
    over = broker.submit(OrderRequest("b", SAMSUNG, BUY, MARKET, 11))
    assert over.code == RejectCode.INSUFFICIENT_CASH


def test_last_close_hold_cuts_a_fill_to_what_cash_pays() -> None:
    config = SimConfig(market_buy_hold=MarketBuyHold.LAST_CLOSE)
    broker, _clock = make(at(D1, 8, 50), cash=700_100, config=config, fees=NoFees())
    assert broker.submit(OrderRequest("a", SAMSUNG, BUY, MARKET, 10)).accepted
    [fill] = broker.on_frame(frame(at(D1, 9), {SAMSUNG: flat(71_000)}))
    assert isinstance(fill, Fill) and fill.qty == 9
    assert broker.balance().cash == 700_100 - 639_000 >= 0
    assert broker.order("a").status is OrderStatus.PARTIALLY_FILLED  # type: ignore[union-attr]


def test_no_short_selling_but_unsettled_shares_can_be_sold() -> None:
    broker, clock = make(at(D1, 8, 50), fees=NoFees())
    short = broker.submit(OrderRequest("s0", SAMSUNG, SELL, MARKET, 1))
    assert short.code == RejectCode.INSUFFICIENT_HOLDINGS
    broker.submit(OrderRequest("b", SAMSUNG, BUY, MARKET, 10))
    broker.on_frame(frame(at(D1, 9), {SAMSUNG: flat(70_000)}))
    clock.advance_to(at(D1, 9, 1))
    assert broker.submit(OrderRequest("s1", SAMSUNG, SELL, LIMIT, 6, 72_000)).accepted
    # 6 of the 10 are held by s1
    assert broker.submit(OrderRequest("s2", SAMSUNG, SELL, MARKET, 5)).code == (
        RejectCode.INSUFFICIENT_HOLDINGS
    )
    assert broker.submit(OrderRequest("s3", SAMSUNG, SELL, MARKET, 4)).accepted


def test_drain_events_returns_each_event_once() -> None:
    broker, clock = make(at(D1, 8, 50), fees=NoFees())
    broker.submit(OrderRequest("m", SAMSUNG, BUY, MARKET, 1))
    broker.submit(OrderRequest("l", SAMSUNG, BUY, LIMIT, 1, 60_000))
    broker.submit(OrderRequest("c", SAMSUNG, BUY, LIMIT, 1, 60_000))
    broker.cancel("c")
    broker.on_frame(frame(at(D1, 9), {SAMSUNG: flat(70_000)}))
    events = broker.drain_events()
    assert [(type(e).__name__, e.client_order_id) for e in events] == [
        ("OrderUpdate", "c"),
        ("Fill", "m"),
    ]
    assert broker.drain_events() == []
    clock.advance_to(at(D1, 15, 30))  # the close: "l" expires without another frame
    [expired] = broker.drain_events()
    assert isinstance(expired, OrderUpdate)
    assert (expired.client_order_id, expired.status) == ("l", OrderStatus.EXPIRED)
    assert broker.open_orders() == []


def test_open_orders_and_order_views() -> None:
    broker, _clock = make(at(D1, 10), fees=NoFees())
    broker.submit(OrderRequest("a", SAMSUNG, BUY, LIMIT, 3, 60_000))
    broker.submit(OrderRequest("x", SAMSUNG, BUY, LIMIT, 3, 60_050))
    [view] = broker.open_orders()
    assert (view.client_order_id, view.status, view.qty, view.limit_price) == (
        "a",
        OrderStatus.SUBMITTED,
        3,
        60_000,
    )
    rejected = broker.order("x")
    assert rejected is not None and rejected.status is OrderStatus.REJECTED
    assert rejected.venue_order_id == ""
    assert broker.order("unknown") is None


def test_daily_backtest_loop() -> None:
    """The usual daily loop: decide at the close, fill at the next open."""
    broker, clock = make(at(D1, 15, 30), fees=NoFees())
    broker.on_frame(day_frame(D1, {SAMSUNG: (69_000, 71_000, 68_500, 70_000, 10**6)}))
    broker.submit(OrderRequest("b", SAMSUNG, BUY, MARKET, 10))
    clock.advance_to(at(D2, 15, 30))
    [fill] = broker.on_frame(day_frame(D2, {SAMSUNG: (70_500, 72_000, 70_000, 71_500, 10**6)}))
    assert isinstance(fill, Fill) and (fill.price, fill.ts) == (70_500, at(D2, 9))


# ---------------------------------------------------------------- the property test

SYMS = (SAMSUNG, KAKAO)


@dataclass
class World:
    """The test's own bookkeeping of what happened, to check the venue against."""

    bars: dict[tuple[str, datetime], tuple[int, int, int, int, int]] = field(default_factory=dict)
    bands: dict[tuple[str, datetime], tuple[int, int]] = field(default_factory=dict)
    terms: dict[tuple[str, datetime], tuple[OrderSide, int | None]] = field(default_factory=dict)
    price: dict[str, int] = field(default_factory=lambda: dict(REF))
    last_close: dict[str, int] = field(default_factory=lambda: dict(REF))
    base: dict[str, int] = field(default_factory=lambda: dict(REF))
    day: date = D1
    frame_day: date | None = None
    next_start: datetime = field(default_factory=lambda: at(D1, 9))
    n: int = 0


order_step = st.tuples(
    st.just("order"),
    st.sampled_from(SYMS),
    st.sampled_from([BUY, SELL]),
    st.sampled_from([LIMIT, MARKET]),
    st.integers(1, 40),
    st.integers(-4, 4),  # limit price, ticks from the current price
    st.integers(0, 20),  # seconds the clock moves first
)
cancel_step = st.tuples(st.just("cancel"), st.integers(0, 30))
replace_step = st.tuples(
    st.just("replace"), st.integers(0, 30), st.integers(1, 40), st.integers(-4, 4)
)
bar = st.tuples(
    st.sampled_from([True, True, True, False]),  # False: no bar for the symbol
    st.integers(-3, 3),  # open, ticks from the last close
    st.integers(0, 3),  # high above max(open, close)
    st.integers(0, 3),  # low below min(open, close)
    st.integers(-3, 3),  # close
    st.sampled_from([0, 3, 17, 40, 120, 1_000]),  # volume
)
# "evening": after the bar the clock jumps to 16:00, so the next orders are reserved ones
frame_step = st.tuples(
    st.just("frame"), st.sampled_from(["minute"] * 6 + ["day", "evening"]), st.tuples(bar, bar)
)
action = st.one_of(order_step, st.one_of(cancel_step, replace_step))
# rounds of a few actions followed by a bar, so most orders meet a bar
steps = st.lists(
    st.tuples(st.lists(action, max_size=4), frame_step),
    min_size=4,
    max_size=20,
).map(lambda rounds: [x for actions, bar_ in rounds for x in [*actions, bar_]])


def _feed(broker: SimBroker, clock: SimulatedClock, w: World, kind: str, bars: tuple) -> None:
    """One minute bar per symbol, starting at the next whole minute (or the next day's open)."""
    now = clock.now()
    if kind == "day" or now >= at(w.day, 15):
        w.day = CAL.next_trading_day(w.day)
        start = at(w.day, 9)
    else:
        floor = now.replace(second=0, microsecond=0)
        start = max(w.next_start, floor if floor == now else floor + timedelta(minutes=1))
    if w.frame_day != w.day:  # the venue's base price: the last close before this day
        w.frame_day = w.day
        w.base = dict(w.last_close)
    data = {}
    for symbol, (active, o, h, lo, c, vol) in zip(SYMS, bars, strict=True):
        p = w.price[symbol]
        op = step(p, o)
        close = step(p, c)
        hi = step(max(op, close), h)
        low = step(min(op, close), -lo)
        w.price[symbol] = close
        if active:
            data[symbol] = (op, hi, low, close, vol)
            w.bars[(symbol, start)] = data[symbol]
            band = daily_limits(w.base[symbol])
            w.bands[(symbol, start)] = (band.lower, band.upper)
            w.last_close[symbol] = close
    for view in broker.open_orders():
        w.terms[(view.client_order_id, start)] = (view.side, view.limit_price)
    if clock.now() < start:
        clock.advance_to(start)
    broker.on_frame(frame(start, data))
    w.next_start = start + timedelta(minutes=1)
    clock.advance_to(w.next_start)


def _expected_price(
    side: OrderSide, limit: int | None, bar_: tuple[int, int, int, int, int], band: tuple[int, int]
) -> int | None:
    """A plain reference of the fill-price rule (bars here are on the grid)."""
    op, hi, lo = bar_[0], bar_[1], bar_[2]
    if limit is None:
        price = op
    elif side is BUY:
        price = op if op <= limit else (limit if lo <= limit else None)  # type: ignore[assignment]
    else:
        price = op if op >= limit else (limit if hi >= limit else None)  # type: ignore[assignment]
    if price is None:
        return None
    clipped = min(max(price, band[0]), band[1])
    return clipped if lo <= clipped <= hi else price


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, participation=st.sampled_from([1.0, 0.5, 0.1]))
def test_money_and_fill_invariants(steps: list[tuple], participation: float) -> None:
    initial_cash = 20_000_000
    initial = {SAMSUNG: 30, KAKAO: 30}
    broker, clock = make(
        at(D1, 8, 50),
        cash=initial_cash,
        holdings=initial,
        config=SimConfig(participation=participation),
    )
    w = World()
    cids: list[str] = []
    for s in steps:
        if s[0] == "order":
            _, symbol, side, kind, qty, ticks, secs = s
            clock.advance(timedelta(seconds=secs))
            price = step(w.price[symbol], ticks) if kind is LIMIT else None
            w.n += 1
            cid = f"o{w.n}"
            cids.append(cid)
            broker.submit(OrderRequest(cid, symbol, side, kind, qty, price))
        elif s[0] == "cancel" and cids:
            broker.cancel(cids[s[1] % len(cids)])
        elif s[0] == "replace" and cids:
            cid = cids[s[1] % len(cids)]
            view = broker.order(cid)
            if view is not None and view.limit_price is not None:
                broker.replace(cid, s[2], step(view.limit_price, s[3]))
            elif view is not None:
                broker.replace(cid, s[2], None)
        elif s[0] == "frame":
            _feed(broker, clock, w, s[1], s[2])
            if s[1] == "evening":
                clock.advance_to(at(w.day, 16))

    fills = broker.fills()
    balance = broker.balance()
    # money: cash moves by exactly the fills, fees included, to the won
    flow = sum(
        (-(f.amount + f.commission) if f.side is BUY else f.amount - f.commission - f.tax)
        for f in fills
    )
    fees = sum(f.fees for f in fills)
    assert balance.cash == initial_cash + flow
    assert balance.cash >= 0
    # cash + holdings at (average) cost == initial cash + initial holdings at cost − fees + realized
    qty = dict(initial)
    cost = {s: REF[s] * q for s, q in initial.items()}
    realized = 0
    for f in fills:
        if f.side is BUY:
            qty[f.symbol] += f.qty
            cost[f.symbol] += f.amount
        else:
            removed = (
                cost[f.symbol]
                if f.qty == qty[f.symbol]
                else cost[f.symbol] * f.qty // qty[f.symbol]
            )
            realized += f.amount - removed
            qty[f.symbol] -= f.qty
            cost[f.symbol] -= removed
        assert qty[f.symbol] >= 0
    assert balance.holdings == {s: q for s, q in qty.items() if q}
    start_value = initial_cash + sum(REF[s] * q for s, q in initial.items())
    assert balance.cash + sum(cost.values()) == start_value - fees + realized
    # holds match the open orders
    opens = [broker.exchange.sim_order(v.client_order_id) for v in broker.open_orders()]
    assert broker.account.held_cash == sum(o.hold_cash for o in opens if o)
    # per order: fills add up and never exceed the order
    by_order: dict[str, int] = {}
    for f in fills:
        by_order[f.client_order_id] = by_order.get(f.client_order_id, 0) + f.qty
    for cid, filled in by_order.items():
        view = broker.order(cid)
        assert view is not None and filled == view.filled_qty <= view.qty
    # per fill: inside its bar, on the grid, as the reference rule says
    per_bar: dict[tuple[str, datetime], int] = {}
    for f in fills:
        bar_ = w.bars[(f.symbol, f.ts)]
        assert bar_[2] <= f.price <= bar_[1]
        assert is_on_tick(f.price)
        side, limit = w.terms[(f.client_order_id, f.ts)]
        assert f.price == _expected_price(side, limit, bar_, w.bands[(f.symbol, f.ts)])
        per_bar[(f.symbol, f.ts)] = per_bar.get((f.symbol, f.ts), 0) + f.qty
    for key, total in per_bar.items():
        assert total <= int(
            w.bars[key][4] * SimConfig(participation=participation).participation_ratio
        )
