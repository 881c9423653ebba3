"""Universe from configuration: any valid KRX code, described by the broker, served by the fakes.

The local fakes (as ``qts sim serve`` builds them) accept every syntactically valid KRX code and
trade a deterministic synthetic series for it; invalid codes are refused as the gateways do.
``qts run`` takes ``universe.symbols`` from Config_Local, asks the broker for names and markets,
and keeps them in the run's store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from qts.app.live import run_broker
from qts.app.venues import kis_config
from qts.brokers.base import OrderRequest
from qts.brokers.kis import KisBroker, KisError, KisMode
from qts.brokers.kis import info as kis_info
from qts.brokers.kis.fake import FakeKisServer
from qts.brokers.kis.fake.credentials import PAPER_APP
from qts.brokers.kis.fake.serve import build_replay_server
from qts.brokers.kis.fake.server import FakeKisOptions
from qts.brokers.kiwoom import KiwoomBroker, KiwoomConfig, KiwoomError
from qts.brokers.kiwoom.fake import (
    TEST_ACCOUNT_NO,
    TEST_APP_KEY,
    TEST_SECRET_KEY,
    FakeConfig,
    FakeKiwoomServer,
    synthetic_venue,
)
from qts.brokers.kiwoom.quotes import instrument as kiwoom_instrument
from qts.brokers.kiwoom.quotes import listing, stock_info
from qts.config.loader import load_config
from qts.model.enums import OrderSide, OrderType
from qts.model.instrument import Market, SecurityType

SPEED = 240.0


@pytest.fixture
def kis() -> Iterator[FakeKisServer]:
    server, clock, frames = build_replay_server(
        seed=7, speed=SPEED, mode=KisMode.PAPER, options=FakeKisOptions(mode=KisMode.PAPER,
                                                                        rate_limit=50)
    )  # fmt: skip
    server.start()
    server.replay(frames, clock)
    yield server
    server.stop()


def kis_env(server: FakeKisServer) -> dict[str, str]:
    return {
        "KIS_VTS_APP_KEY": PAPER_APP.app_key,
        "KIS_VTS_APP_SECRET": PAPER_APP.app_secret,
        "KIS_VTS_ACCOUNT_NO": PAPER_APP.account_no,
        "KIS_VTS_HTS_ID": PAPER_APP.hts_id,
        "KIS_VTS_BASE_URL": server.rest_url,
        "KIS_VTS_WS_URL": server.ws_url,
    }


def test_the_kis_fake_serves_any_valid_code_and_refuses_invalid_ones(kis: FakeKisServer) -> None:
    cfg = kis_config("paper", kis_env(kis)).model_copy(update={"ws_enabled": False,
                                                               "rate_limit_per_s": 50})  # fmt: skip
    with KisBroker(cfg, clock=kis.clock) as broker:
        quote = broker.quote("005930")
        assert quote.base_price > 0 and quote.last > 0
        info = kis_info.product_info(broker.rest, "005930")
        assert info.name == "Synthetic 005930" and not info.etf
        assert kis_info.instrument(broker.rest, "263750").market is Market.KOSDAQ  # synthetic
        request = OrderRequest("any-1", "005930", OrderSide.BUY, OrderType.LIMIT, 1,
                               quote.base_price)  # fmt: skip
        ack = broker.submit(request)
        assert ack.accepted and ack.venue_order_id
        with pytest.raises(KisError):
            kis_info.product_info(broker.rest, "A05930")
        with pytest.raises(KisError):
            broker.quote("00593")
        bad = OrderRequest("any-2", "A05930", OrderSide.BUY, OrderType.LIMIT, 1, 70_000)
        assert not broker.submit(bad).accepted
    assert kis.call(lambda: "005930" in kis.instruments)


def test_the_kiwoom_fake_serves_any_valid_code_and_refuses_invalid_ones() -> None:
    venue, _market, _day = synthetic_venue(7, date(2026, 3, 4))
    fake = FakeConfig(per_api=None, overall=None)
    with FakeKiwoomServer(venue, fake) as server:
        cfg = KiwoomConfig(app_key=SecretStr(TEST_APP_KEY), secret_key=SecretStr(TEST_SECRET_KEY),
                           account_no=SecretStr(TEST_ACCOUNT_NO), base_url=server.base_url,
                           poll_interval_s=None)  # fmt: skip
        with KiwoomBroker(cfg, clock=venue.clock) as broker:
            info = stock_info(broker.rest, "000660")
            assert info.name == "Synthetic 000660" and info.base_price > 0
            with pytest.raises(KiwoomError):
                stock_info(broker.rest, "A0066")
            found = listing(broker.rest, "000660")  # listed on first sight, ka10100 too
            assert found.name == "Synthetic 000660"
            assert (
                found.market_code
                == {Market.KOSPI: "0", Market.KOSDAQ: "10"}[venue.instruments["000660"].market]
            )
            with pytest.raises(KiwoomError):
                listing(broker.rest, "A0066")
    assert "000660" in venue.instruments


def test_kiwoom_names_the_market_and_the_kind_of_each_listing() -> None:
    """ka10100's marketCode/marketName (ka10001 carries no market): KOSDAQ, KOSPI, an ETF."""
    venue, _market, _day = synthetic_venue(7, date(2026, 3, 4))
    fake = FakeConfig(per_api=None, overall=None)
    with FakeKiwoomServer(venue, fake) as server:
        cfg = KiwoomConfig(app_key=SecretStr(TEST_APP_KEY), secret_key=SecretStr(TEST_SECRET_KEY),
                           account_no=SecretStr(TEST_ACCOUNT_NO), base_url=server.base_url,
                           poll_interval_s=None)  # fmt: skip
        with KiwoomBroker(cfg, clock=venue.clock) as broker:
            raw = broker.rest.call(
                "/api/dostk/stkinfo", "ka10100", {"stk_cd": "263750"}, idempotent=True
            ).body
            assert (raw["marketCode"], raw["marketName"], raw["return_code"]) == ("10", "코스닥", 0)
            seen = {
                s: kiwoom_instrument(broker.rest, s, stock_info(broker.rest, s).name)
                for s in ("263750", "018470", "139260")
            }
    assert {s: (i.market, i.security_type) for s, i in seen.items()} == {
        "263750": (Market.KOSDAQ, SecurityType.STOCK),
        "018470": (Market.KOSPI, SecurityType.STOCK),
        "139260": (Market.KOSPI, SecurityType.ETF),
    }
    assert {s: i.name for s, i in seen.items()} == {s: venue.names[s] for s in seen}


def test_qts_run_trades_the_configured_universe(kis: FakeKisServer, tmp_path: Path) -> None:
    loaded = load_config(None, [])
    universe = loaded.config.universe.model_copy(update={"symbols": ["005930", "005870"]})
    config = loaded.config.model_copy(update={"universe": universe})
    engines = []
    lines: list[str] = []
    result = run_broker(
        config,
        broker="kis",
        account="paper",
        duration=timedelta(seconds=4),
        stop=threading.Event(),
        env=kis_env(kis),
        db=tmp_path / "books.sqlite",  # books of its own, not the account's file under var/
        on_ready=engines.append,
        echo=lines.append,
    )
    try:
        assert any("subscribed H0STCNT0 for 2 symbols" in line for line in lines)
        assert result.feed.symbols == {"005930", "005870"}  # prints of both, 005930 made up
        cached = result.engine.store.load_state("instruments")
        assert cached is not None and set(cached) == {"005930", "005870"}
        assert cached["005930"]["name"] == "Synthetic 005930"
        assert cached["005870"]["name"] == "Korea Precision Motor"  # the broker's word
        assert kis.subscriptions("H0STCNT0", "005930") >= 1
    finally:
        result.engine.close()


def test_an_invalid_configured_code_is_named() -> None:
    loaded = load_config(None, [])
    with pytest.raises(ValueError, match="A05930"):
        loaded.config.universe.model_validate({"symbols": ["005930", "A05930"]})
