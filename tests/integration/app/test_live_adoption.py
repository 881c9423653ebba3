"""Start-up adopts the account: cash and holdings from the broker (KIS fake), the holdings
booked at the broker's average price, tagged ``adopted`` and protected by the micro risk loop;
``live.adopt_holdings: refuse`` refuses to start, naming the holdings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from test_live_volatility import Run, wait_until

from qts.app.live import run_broker
from qts.brokers.kis import KisMode
from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.credentials import PAPER_APP
from qts.brokers.kis.fake.serve import first_day
from qts.brokers.kis.fake.server import FakeKisOptions, PacedClock
from qts.brokers.kis.fake.venue import Position
from qts.config.loader import load_config
from qts.core.errors import ConfigError
from qts.feeds.synthetic import SyntheticMarket
from qts.feeds.synthetic_codes import CatalogMarket, SyntheticCatalog
from qts.market.krx.calendar import KrxCalendar
from qts.safety.state import SafetyState
from qts.safety.supervisor import request_recovery

HELD = {"005870": 300, "005930": 40}  # a universe symbol, and one the config does not name


@pytest.fixture
def kis() -> Iterator[FakeKisServer]:
    calendar = KrxCalendar()
    day = first_day(calendar)
    market = SyntheticMarket(7)
    catalog = SyntheticCatalog(market.universe)
    catalog.add("005930")
    refs = {s.symbol: s.base_price for s in catalog.symbols()}
    clock = PacedClock(calendar.session(day).open - timedelta(minutes=1), 120.0)
    server = FakeKisServer(
        {s.symbol: s.instrument for s in catalog.symbols()},
        clock,
        options=FakeKisOptions(mode=KisMode.PAPER, rate_limit=50),
        reference_prices=refs,
        holdings={PAPER_APP.app_key: HELD},
        calendar=calendar,
        catalog=catalog,
    ).start()
    days = CatalogMarket(7, catalog, calendar)
    server.index_source = days.level_at
    server.replay(days.frames(day), clock)
    yield server
    server.stop()


def env_of(server: FakeKisServer) -> dict[str, str]:
    return {
        "KIS_VTS_APP_KEY": PAPER_APP.app_key,
        "KIS_VTS_APP_SECRET": PAPER_APP.app_secret,
        "KIS_VTS_ACCOUNT_NO": PAPER_APP.account_no,
        "KIS_VTS_HTS_ID": PAPER_APP.hts_id,
        "KIS_VTS_BASE_URL": server.rest_url,
        "KIS_VTS_WS_URL": server.ws_url,
    }


def test_holdings_are_adopted_and_protected(kis: FakeKisServer) -> None:
    run = Run("kis", env_of(kis))
    engine = run.ready()
    try:
        account = engine.oms.account
        for symbol, qty in HELD.items():
            pos = account.positions[symbol]
            ref = kis.market.days[symbol].base
            assert pos.qty == qty and pos.strategy == "adopted"
            assert pos.cost_basis == qty * ref  # the broker's average price
            wait_until(lambda s=symbol: engine.spine.micro.position(s) is not None)
        broker_cash = kis.call(lambda: kis.accounts[PAPER_APP.app_key].sim.balance().cash)
        assert account.cash == broker_cash
        assert account.reconcile() == []
        assert "005930" in engine.oms.universe.symbols  # held, so its prints are watched
        assert "FS070" not in [e.code for e in engine.store.load_safety_events()]
        assert any("2 holding(s) adopted" in line for line in run.lines)
    finally:
        result = run.finish()
        result.engine.close()


def test_refuse_names_the_holdings(kis: FakeKisServer) -> None:
    cfg = load_config(None, []).config
    cfg = cfg.model_copy(update={"live": cfg.live.model_copy(update={"adopt_holdings": "refuse"})})
    with pytest.raises(ConfigError, match="005870 x300") as refused:
        run_broker(cfg, broker="kis", account="paper", env=env_of(kis),
                   duration=timedelta(seconds=5), echo=lambda _line: None)  # fmt: skip
    assert "adopt_holdings" in str(refused.value)


def test_an_unexplained_mismatch_keeps_fs070_until_an_operator_approves(
    kis: FakeKisServer,
) -> None:
    run = Run("kis", env_of(kis), live={"books_check_s": 1.0})
    engine = run.ready()
    safety = engine.runner.safety

    def fs070() -> int:
        return sum(e.code == "FS070" for e in engine.store.load_safety_events())

    def checks(n: int) -> None:  # the run compares books and broker n more times
        def balances() -> int:
            return int(kis.stats.paths["inquire-balance"])

        target = balances() + n
        wait_until(lambda: balances() >= target)

    try:
        checks(2)
        assert fs070() == 0 and safety.trading_allowed  # adopted books equal the broker's
        # someone trades at the broker behind the run's back: no fill explains it
        venue = kis.accounts[PAPER_APP.app_key]
        kis.call(lambda: venue.positions.__setitem__("005870", Position(377, 377 * 72_000)))
        wait_until(lambda: fs070() >= 2)
        wait_until(lambda: safety.state is SafetyState.LOCKDOWN)
        checks(3)  # cycles and checks pass; the mismatch does not clear by itself
        assert safety.state is SafetyState.LOCKDOWN and not safety.trading_allowed
        request_recovery(engine.store, "tester", "checked the account by hand", engine.clock.now())
        wait_until(lambda: safety.state is SafetyState.NORMAL)
        seen = fs070()
        checks(3)
        assert fs070() == seen and safety.state is SafetyState.NORMAL  # accepted as it is
    finally:
        result = run.finish()
        result.engine.close()
