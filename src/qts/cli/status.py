"""The live console of ``qts run``: fills as they happen, and a status panel.

On a terminal the panel redraws in place; otherwise a status block is printed every
``every`` simulated minutes, so logs and pipes stay readable.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from qts.app.wiring import Engine
from qts.engines.contracts import CycleReport
from qts.model.fill import Fill


class StatusConsole:
    def __init__(self, console: Console, every: timedelta = timedelta(minutes=30)) -> None:
        self.console = console
        self.every = every
        self.engine: Engine | None = None
        self.decisions: deque[str] = deque(maxlen=6)
        self.fills = 0
        self._last_print: datetime | None = None
        self._live: Live | None = None
        self._ts: datetime | None = None

    def attach(self, engine: Engine) -> None:
        self.engine = engine
        if self.console.is_terminal:
            self._live = Live(console=self.console, refresh_per_second=4, transient=False)
            self._live.start()

    def on_cycle(self, report: CycleReport, fills: list[Fill]) -> None:
        self._ts = report.ts
        for f in fills:
            self.fills += 1
            self.console.print(
                f"{f.ts:%Y-%m-%d %H:%M} FILL {f.side.value:<4} {f.symbol} "
                f"{f.qty:>6,} @ {f.price:>9,}  fees {f.commission + f.tax:,}"
            )
        decisions = report.decisions
        if decisions is None:
            self.decisions.append(f"{report.ts:%H:%M} cycle failed: safety {self._state()}")
        else:
            for d in decisions.orders:
                self.decisions.append(
                    f"{report.ts:%H:%M} {d.action} {d.symbol} x{d.qty} ({d.strategy}: {d.reason})"
                )
            for d in decisions.blocked:
                self.decisions.append(f"{report.ts:%H:%M} blocked {d.symbol}: {d.reason}")
        if self._live is not None:
            self._live.update(self.panel())
        elif self._last_print is None or report.ts - self._last_print >= self.every:
            self._last_print = report.ts
            self.console.print(self.panel())

    def _state(self) -> str:
        return self.engine.runner.safety.state.value if self.engine else "?"

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self.panel())
            self._live.stop()
        else:
            self.console.print(self.panel())

    def panel(self) -> Group:
        """Equity, risk and positions as the cache serves them (prices, ``pos:*`` and
        ``risk:account``, the store behind each), like any other reader of hot state."""
        engine = self.engine
        if engine is None:
            return Group(Text("starting…"))
        account = engine.oms.account
        runner = engine.runner
        hot = engine.cache.hot
        held = {p.symbol: p for p in account.open_positions()}
        symbols = sorted(held)
        cached = hot.positions(symbols) if symbols else {}
        prices = hot.prices(symbols) if symbols else {}
        risk = hot.risk()
        if risk is not None:
            equity, day_pnl = risk.equity, risk.daily_pnl
        else:
            equity = account.cash + int(engine.oms.qty @ runner.last_close)
            day_pnl = equity - runner.day_start_equity
        realized = sum(p.realized_pnl for p in account.positions.values())
        # what ``qts safety status`` calls "trading allowed": the switch and the safety state
        if not runner.trading_enabled:
            trading = "OFF (switched off)"
        elif not runner.safety.trading_allowed:
            trading = f"OFF ({runner.safety.state})"
        else:
            trading = "on"
        head = Text(
            f"{self._ts or engine.clock.now():%Y-%m-%d %H:%M} KST  safety {runner.safety.state}  "
            f"trading {trading}  equity {equity:,}  "
            f"day PnL {day_pnl:+,}  cash {account.cash:,}  "
            f"realized {realized:+,}  fees {account.ledger.total_fees():,}  fills {self.fills}  "
            f"cache {engine.cache.backend} ({engine.cache.breaker.value.lower()})"
        )
        capital = capital_line(engine)
        table = Table("symbol", "qty", "avg", "last", "unrealized", "strategy", box=None)
        for symbol in symbols:
            p = held[symbol]
            c = cached.get(symbol)
            qty = c.qty if c is not None else p.qty
            cost = c.cost_basis if c is not None else p.cost_basis
            q = prices.get(symbol)
            last = (
                q.last
                if q is not None
                else int(runner.last_close[engine.oms.universe.index(symbol)])
            )
            table.add_row(
                symbol,
                f"{qty:,}",
                f"{(cost / qty if qty else 0):,.0f}",
                f"{last:,}",
                f"{qty * last - cost:+,}",
                p.strategy,
            )
        lines = [head, table] if symbols else [head, Text("no open positions")]
        if engine.scalp is not None:
            lines.insert(1, Text(engine.scalp.status_line()))
        if capital is not None:
            lines.insert(1, capital)
        if self.decisions:
            lines.append(Text("last decisions:\n  " + "\n  ".join(self.decisions)))
        return Group(*lines)


def capital_line(engine: Engine) -> Text | None:
    """Operating state and the three pools (total / available), when capital flow is on."""
    step = engine.runner.capital
    view = step.view if step is not None else None
    if view is None:
        return None
    pools = "  ".join(
        f"{t.value.lower()} {p.total_capital:,} (avail {p.available_capital:,}"
        + (", LOCKED" if p.pool_state.value == "LOCKED" else "")
        + ")"
        for t, p in view.pools.items()
    )
    vol = f"  vol index {step.level:g}" if step is not None and step.level is not None else ""
    pending = "  rebalancing" if view.rebalance_pending else ""
    return Text(f"state {view.state}{vol}{pending}  pools: {pools}")
