"""The pre-trade gate reading its hot inputs through a PreTradeView (the cache's port)."""

from __future__ import annotations

from collections.abc import Sequence

from calc_kit import Book, Holding, calc, frame

from qts.engines.contracts import CalcData, StrategyDecision
from qts.engines.risk import AccountRisk, PreTradeInputs, RiskGate, RiskLimits
from qts.model.enums import Signal, Track
from qts.model.frame import Universe

UNI = Universe(("A", "B"))
PRICES = {"A": 10_000, "B": 20_000}


class View:
    def __init__(self, prices: dict[str, int], held: dict[str, int], risk: AccountRisk | None):
        self.prices, self.held, self.risk = prices, held, risk
        self.reads: list[str] = []

    def pretrade(self, symbol: str) -> PreTradeInputs:
        self.reads.append(symbol)
        return PreTradeInputs(self.prices.get(symbol), self.held.get(symbol, 0))

    def pretrade_many(self, symbols: Sequence[str]) -> dict[str, PreTradeInputs]:
        self.reads.append("many:" + ",".join(symbols))
        return {s: PreTradeInputs(self.prices.get(s), self.held.get(s, 0)) for s in symbols}

    def account_risk(self) -> AccountRisk | None:
        self.reads.append("risk")
        return self.risk


def make_calc(holdings: dict[str, int]) -> CalcData:
    book = Book(
        cash=10_000_000, holdings={s: Holding(q, PRICES[s], "s") for s, q in holdings.items()}
    )
    return calc(frame(UNI, [PRICES[s] for s in UNI.symbols]), book)


def decision(symbol: str, signal: Signal) -> StrategyDecision:
    return StrategyDecision(symbol, "s", Track.SWING, signal, "test")


def test_no_current_price_refuses_the_order() -> None:
    c = make_calc({})
    view = View({"A": 10_000}, {}, None)
    g = RiskGate(RiskLimits(), view)
    g.start_cycle(c)
    r = g.check(c, decision("B", Signal.BUY), 10, 20_000)
    assert (r.approved, r.reason) == (False, "NO_PRICE (no current price:B)")
    assert g.check(c, decision("A", Signal.BUY), 10, 10_000).approved
    assert view.reads == ["risk", "B", "A"]


def test_held_quantity_comes_from_the_view() -> None:
    c = make_calc({"A": 30})
    # the cache knows of a fill the cycle's snapshot has not seen: 10 shares left
    g = RiskGate(RiskLimits(), View(PRICES, {"A": 10}, None))
    g.start_cycle(c)
    r = g.check(c, decision("A", Signal.SELL), 30, 10_000)
    assert (r.approved, r.allowed_qty) == (True, 10)


def test_daily_loss_and_exposure_come_from_the_account_risk_state() -> None:
    c = make_calc({})
    lost = AccountRisk(exposure_used=0, daily_pnl=-400_000, day_start_equity=10_000_000)
    g = RiskGate(RiskLimits(daily_loss_limit=0.03), View(PRICES, {}, lost))
    g.start_cycle(c)
    r = g.check(c, decision("A", Signal.BUY), 1, 10_000)
    assert not r.approved and r.reason.startswith("DAILY_LOSS_LIMIT")
    full = AccountRisk(exposure_used=5_000_000, daily_pnl=0, day_start_equity=10_000_000)
    g = RiskGate(RiskLimits(max_exposure=0.5), View(PRICES, {}, full))
    g.start_cycle(c)
    r = g.check(c, decision("A", Signal.BUY), 1, 10_000)
    assert (r.approved, r.reason) == (False, "MAX_EXPOSURE")


def test_prefetched_inputs_answer_the_checks_the_view_would_have_answered() -> None:
    """A cycle's checks read ahead in one call give the answers of one read per check; only
    checks that reach the view are read for, and each prefetched input serves one check."""
    c = make_calc({"A": 30})
    wanted = [("A", 30, 10_000), ("B", 10, 20_000), ("C", 5, 1_000), ("B", 0, 20_000)]
    answers = []
    for prefetch in (False, True):
        view = View({"A": 10_000}, {"A": 10}, None)
        g = RiskGate(RiskLimits(), view)
        g.start_cycle(c)
        if prefetch:
            g.prefetch(c, wanted)  # C is no universe symbol; a zero qty is refused first
        sell = g.check(c, decision("A", Signal.SELL), 30, 10_000)
        buy = g.check(c, decision("B", Signal.BUY), 10, 20_000)
        again = g.check(c, decision("B", Signal.BUY), 10, 20_000)
        answers.append((sell, buy, again))
        assert view.reads == (["risk", "many:A,B", "B"] if prefetch else ["risk", "A", "B", "B"])
    assert answers[0] == answers[1]
    assert answers[1][0].allowed_qty == 10 and answers[1][1].reason.startswith("NO_PRICE")
