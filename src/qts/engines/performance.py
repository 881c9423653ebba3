"""Performance engine: round-trip trades from the ledger, statistics from the equity curve.

Pure: no I/O, no wall clock. Money stays integer won; ratios are floats. Every division is
guarded so no NaN or infinity leaks out, except :attr:`PerformanceReport.profit_factor`, which is
``inf`` when there are winning trades and no losing ones (JSON gets ``null``, see
:meth:`PerformanceReport.as_dict`). The conventions are written down in ``docs/performance.md``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from qts.core.errors import DataError
from qts.core.time import KST
from qts.data.ports import EquityPoint
from qts.model.enums import OrderSide
from qts.model.ledger import LedgerEntry

YEAR = timedelta(days=365.25)


# --- trades -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed round trip in one symbol: flat -> long (any number of fills) -> flat.

    ``pnl`` is the sum of the round trip's ledger ``net_amount``: proceeds − cost − commissions −
    taxes, so fees on both legs are in it. Prices are averages over the round trip's fills.
    """

    symbol: str
    entry_time: datetime
    entry_price: Decimal
    exit_time: datetime
    exit_price: Decimal
    qty: int
    pnl: int
    fees: int
    cost: int
    strategy: str
    fills: int

    @property
    def holding(self) -> timedelta:
        return self.exit_time - self.entry_time

    @property
    def return_pct(self) -> float:
        """PnL over the gross amount paid for the shares (0.0 if nothing was paid)."""
        return self.pnl / self.cost if self.cost else 0.0


@dataclass(frozen=True, slots=True)
class OpenTrade:
    """A round trip still open at the end of the ledger; not a trade, so not in the statistics.

    ``net_cash`` is the sum of its ledger ``net_amount`` so far (negative: money still in it).
    """

    symbol: str
    entry_time: datetime
    entry_price: Decimal
    qty: int
    bought_qty: int
    sold_qty: int
    net_cash: int
    fees: int
    strategy: str
    last_time: datetime
    fills: int


@dataclass(slots=True)
class _Trip:
    """Running totals of one round trip while it is open."""

    symbol: str
    entry_time: datetime
    strategy: str
    last_time: datetime
    qty: int = 0
    bought_qty: int = 0
    bought_amount: int = 0
    sold_qty: int = 0
    sold_amount: int = 0
    net_cash: int = 0
    fees: int = 0
    fills: int = 0

    def add(self, e: LedgerEntry) -> None:
        if e.side is OrderSide.BUY:
            self.qty += e.qty
            self.bought_qty += e.qty
            self.bought_amount += e.amount
        else:
            self.qty -= e.qty
            self.sold_qty += e.qty
            self.sold_amount += e.amount
        self.net_cash += e.net_amount
        self.fees += e.commission + e.tax
        self.fills += 1
        self.last_time = e.ts

    @property
    def entry_price(self) -> Decimal:
        return Decimal(self.bought_amount) / self.bought_qty if self.bought_qty else Decimal(0)

    def closed(self) -> Trade:
        return Trade(
            symbol=self.symbol,
            entry_time=self.entry_time,
            entry_price=self.entry_price,
            exit_time=self.last_time,
            exit_price=Decimal(self.sold_amount) / self.sold_qty,
            qty=self.bought_qty,
            pnl=self.net_cash,
            fees=self.fees,
            cost=self.bought_amount,
            strategy=self.strategy,
            fills=self.fills,
        )

    def still_open(self) -> OpenTrade:
        return OpenTrade(
            symbol=self.symbol,
            entry_time=self.entry_time,
            entry_price=self.entry_price,
            qty=self.qty,
            bought_qty=self.bought_qty,
            sold_qty=self.sold_qty,
            net_cash=self.net_cash,
            fees=self.fees,
            strategy=self.strategy,
            last_time=self.last_time,
            fills=self.fills,
        )


def round_trips(entries: Sequence[LedgerEntry]) -> tuple[list[Trade], dict[str, OpenTrade]]:
    """Split the ledger into closed round trips (by exit, in ledger order) and open ones.

    Entries are taken in ``seq`` order. Each row's ``position_after`` must agree with the
    quantities booked before it: a ledger that starts mid-position or has a gap raises
    :class:`DataError`, because the trades it would give are wrong.
    """
    trades: list[Trade] = []
    trips: dict[str, _Trip] = {}
    for e in sorted(entries, key=lambda row: row.seq):
        trip = trips.get(e.symbol)
        held = trip.qty if trip else 0
        after = held + (e.qty if e.side is OrderSide.BUY else -e.qty)
        if e.qty <= 0 or after < 0 or after != e.position_after:
            raise DataError(
                "ledger",
                f"seq {e.seq}",
                f"{e.side} {e.qty} {e.symbol} after holding {held} should leave {after}, "
                f"ledger says {e.position_after}",
            )
        if trip is None:
            trip = trips[e.symbol] = _Trip(e.symbol, e.ts, e.strategy, e.ts)
        trip.add(e)
        if trip.qty == 0:
            trades.append(trip.closed())
            del trips[e.symbol]
    return trades, {symbol: trip.still_open() for symbol, trip in trips.items()}


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DailyStat:
    """One calendar day (KST): the equity of its last point and the change from the day before."""

    day: date
    equity: int
    pnl: int
    ret: float


@dataclass(frozen=True, slots=True)
class PerformanceReport:
    """Statistics of one run; see ``docs/performance.md`` for every definition."""

    initial_cash: int
    final_equity: int
    start: datetime | None
    end: datetime | None
    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    risk_free: float
    periods_per_year: int
    max_drawdown: float
    max_drawdown_amount: int
    max_drawdown_peak: datetime | None
    max_drawdown_trough: datetime | None
    max_drawdown_duration: timedelta
    max_drawdown_recovered: bool
    exposure: float
    days: int
    daily_win_rate: float
    trades: int
    winning_trades: int
    losing_trades: int
    win_rate: float
    profit_factor: float
    gross_profit: int
    gross_loss: int
    net_trade_pnl: int
    trade_fees: int
    avg_win: int
    avg_loss: int
    largest_win: int
    largest_loss: int
    max_consecutive_losses: int
    avg_holding: timedelta
    daily: tuple[DailyStat, ...] = field(default=())

    @property
    def daily_pnl(self) -> list[tuple[date, int]]:
        return [(d.day, d.pnl) for d in self.daily]

    @property
    def daily_returns(self) -> list[tuple[date, float]]:
        return [(d.day, d.ret) for d in self.daily]

    def as_dict(self, include_daily: bool = True) -> dict[str, Any]:
        """JSON-ready: ints stay ints, times are ISO strings, durations are seconds.

        A profit factor of infinity (wins, no losses) becomes ``None`` (JSON ``null``).
        """
        out: dict[str, Any] = {
            "initial_cash": self.initial_cash,
            "final_equity": self.final_equity,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "total_return": self.total_return,
            "cagr": self.cagr,
            "volatility": self.volatility,
            "sharpe": self.sharpe,
            "risk_free": self.risk_free,
            "periods_per_year": self.periods_per_year,
            "max_drawdown": self.max_drawdown,
            "max_drawdown_amount": self.max_drawdown_amount,
            "max_drawdown_peak": _iso(self.max_drawdown_peak),
            "max_drawdown_trough": _iso(self.max_drawdown_trough),
            "max_drawdown_duration_seconds": _seconds(self.max_drawdown_duration),
            "max_drawdown_recovered": self.max_drawdown_recovered,
            "exposure": self.exposure,
            "days": self.days,
            "daily_win_rate": self.daily_win_rate,
            "trades": self.trades,
            "winning_trades": self.winning_trades,
            "losing_trades": self.losing_trades,
            "win_rate": self.win_rate,
            "profit_factor": self.profit_factor if math.isfinite(self.profit_factor) else None,
            "gross_profit": self.gross_profit,
            "gross_loss": self.gross_loss,
            "net_trade_pnl": self.net_trade_pnl,
            "trade_fees": self.trade_fees,
            "avg_win": self.avg_win,
            "avg_loss": self.avg_loss,
            "largest_win": self.largest_win,
            "largest_loss": self.largest_loss,
            "max_consecutive_losses": self.max_consecutive_losses,
            "avg_holding_seconds": _seconds(self.avg_holding),
        }
        if include_daily:
            out["daily"] = [
                {"date": d.day.isoformat(), "equity": d.equity, "pnl": d.pnl, "return": d.ret}
                for d in self.daily
            ]
        return out


def kst_date(ts: datetime) -> date:
    """The KST calendar date of ``ts``; a naive timestamp is taken as KST wall-clock time."""
    return ts.date() if ts.tzinfo is None else ts.astimezone(KST).date()


def drawdowns(equity: Sequence[int], initial_cash: int | None = None) -> list[float]:
    """Drawdown of each point as a fraction in [0, 1] of the running peak.

    The peak starts at ``initial_cash`` when given (a loss from the start is a drawdown). A peak
    of zero or less gives 0.0 at or above it and 1.0 below it.
    """
    out: list[float] = []
    peak = initial_cash if initial_cash is not None else (equity[0] if equity else 0)
    for e in equity:
        if e > peak:
            peak = e
        out.append(_dd(peak, e))
    return out


def compute(
    equity: Sequence[EquityPoint],
    trades: Sequence[Trade],
    initial_cash: int,
    periods_per_year: int = 252,
    risk_free: float = 0.0,
) -> PerformanceReport:
    """Statistics of an equity curve (points in time order) and its closed trades.

    ``risk_free`` is an annual rate, subtracted from the annualised mean daily return in Sharpe.
    """
    if periods_per_year <= 0:
        raise ValueError(f"performance: periods_per_year must be positive, got {periods_per_year}")
    if not math.isfinite(risk_free):
        raise ValueError(f"performance: risk_free must be finite, got {risk_free}")
    points = list(equity)
    final = points[-1].equity if points else initial_cash
    start = points[0].ts if points else None
    end = points[-1].ts if points else None

    daily = _daily(points, initial_cash)
    rets = [d.ret for d in daily]
    vol = _stdev(rets) * math.sqrt(periods_per_year)
    mean = math.fsum(rets) / len(rets) if rets else 0.0
    sharpe = _finite((mean * periods_per_year - risk_free) / vol) if vol > 0 else 0.0

    dd = _max_drawdown(points, initial_cash)
    held = sum(1 for p in points if p.market_value != 0)

    pnls = [t.pnl for t in trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_profit = sum(wins)
    gross_loss = -sum(losses)
    if gross_loss > 0:
        profit_factor = gross_profit / gross_loss
    else:
        profit_factor = math.inf if gross_profit > 0 else 0.0
    holding = sum((t.holding for t in trades), timedelta())

    return PerformanceReport(
        initial_cash=initial_cash,
        final_equity=final,
        start=start,
        end=end,
        total_return=_ratio(final - initial_cash, initial_cash),
        cagr=_cagr(initial_cash, final, (end - start) if start and end else timedelta()),
        volatility=_finite(vol),
        sharpe=sharpe,
        risk_free=risk_free,
        periods_per_year=periods_per_year,
        max_drawdown=dd.fraction,
        max_drawdown_amount=dd.amount,
        max_drawdown_peak=dd.peak_ts,
        max_drawdown_trough=dd.trough_ts,
        max_drawdown_duration=dd.duration,
        max_drawdown_recovered=dd.recovered,
        exposure=_ratio(held, len(points)),
        days=len(daily),
        daily_win_rate=_ratio(sum(1 for d in daily if d.pnl > 0), len(daily)),
        trades=len(pnls),
        winning_trades=len(wins),
        losing_trades=len(losses),
        win_rate=_ratio(len(wins), len(pnls)),
        profit_factor=profit_factor,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        net_trade_pnl=sum(pnls),
        trade_fees=sum(t.fees for t in trades),
        avg_win=_round_div(gross_profit, len(wins)),
        avg_loss=_round_div(-gross_loss, len(losses)),
        largest_win=max(wins, default=0),
        largest_loss=min(losses, default=0),
        max_consecutive_losses=_longest_run(p < 0 for p in pnls),
        avg_holding=holding / len(trades) if trades else timedelta(),
        daily=tuple(daily),
    )


# --- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Drawdown:
    fraction: float = 0.0
    amount: int = 0
    peak_ts: datetime | None = None
    trough_ts: datetime | None = None
    duration: timedelta = timedelta()
    recovered: bool = True


def _max_drawdown(points: Sequence[EquityPoint], initial_cash: int) -> _Drawdown:
    """Deepest fall from a running peak over every point, and the longest time under a peak.

    The curve starts at ``initial_cash`` at the first point's time. Duration runs from the peak's
    time to the first point back at or above it, or to the last point if it never got back.
    """
    if not points:
        return _Drawdown()
    peak, peak_ts = initial_cash, points[0].ts
    worst = _Drawdown()
    longest, recovered = timedelta(), True
    underwater = False
    for p in points:
        if p.equity >= peak:
            if underwater:
                longest = max(longest, p.ts - peak_ts)
                underwater = False
            peak, peak_ts = p.equity, p.ts
            continue
        underwater = True
        frac = _dd(peak, p.equity)
        if frac > worst.fraction:
            worst = _Drawdown(frac, peak - p.equity, peak_ts, p.ts)
    if underwater:
        tail = points[-1].ts - peak_ts
        if tail >= longest:
            longest, recovered = tail, False
    return _Drawdown(
        worst.fraction, worst.amount, worst.peak_ts, worst.trough_ts, longest, recovered
    )


def _daily(points: Sequence[EquityPoint], initial_cash: int) -> list[DailyStat]:
    last: dict[date, int] = {}
    for p in points:
        last[kst_date(p.ts)] = p.equity  # dict keeps first-seen day order; value: last point
    out: list[DailyStat] = []
    prev = initial_cash
    for day, eq in last.items():
        out.append(DailyStat(day, eq, eq - prev, _ratio(eq - prev, prev) if prev > 0 else 0.0))
        prev = eq
    return out


def _dd(peak: int, value: int) -> float:
    if peak <= 0:
        return 0.0 if value >= peak else 1.0
    return min(1.0, max(0.0, (peak - value) / peak))


def _cagr(initial: int, final: int, elapsed: timedelta) -> float:
    if initial <= 0 or elapsed <= timedelta():
        return 0.0
    if final <= 0:
        return -1.0
    exponent = math.log(final / initial) * (YEAR / elapsed)
    try:
        return math.expm1(exponent)
    except OverflowError:  # a big gain annualised over minutes: clamp to the largest float
        return sys.float_info.max


def _stdev(xs: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1); 0.0 for fewer than two values."""
    n = len(xs)
    if n < 2:
        return 0.0
    mean = math.fsum(xs) / n
    return math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))


def _ratio(num: float, den: float) -> float:
    return _finite(num / den) if den else 0.0


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def _round_div(num: int, den: int) -> int:
    """``num / den`` to the nearest won (half to even); 0 when ``den`` is 0."""
    if den == 0:
        return 0
    return int((Decimal(num) / Decimal(den)).to_integral_value(ROUND_HALF_EVEN))


def _longest_run(flags: Iterable[bool]) -> int:
    best = run = 0
    for flag in flags:
        run = run + 1 if flag else 0
        best = max(best, run)
    return best


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None


def _seconds(td: timedelta) -> int | float:
    s = td.total_seconds()
    return int(s) if s.is_integer() else s
