"""``qts sim serve --broker kis``: the fake replaying the seeded synthetic market in paced time."""

from __future__ import annotations

import threading
from datetime import date

import httpx
import pytest
import typer
from kis_kit import WAIT, buy, collect, config_for, expected_cash, filled_qty, fills_of
from typer.testing import CliRunner

from qts.brokers.kis import KisBroker, KisMode
from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.fake import REAL_APP, FakeKisOptions, build_replay_server, serve_kis
from qts.cli.sim import app as sim_app
from qts.core.errors import ConfigError

DAY = date(2026, 3, 4)


def test_replayed_market_fills_orders_and_streams_trades() -> None:
    server, clock, frames = build_replay_server(
        seed=3,
        speed=1200.0,  # a minute bar every 50 ms
        mode=KisMode.REAL,
        day=DAY,
        options=FakeKisOptions(mode=KisMode.REAL, ping_interval_s=0.5),
    )
    server.start()
    broker: KisBroker | None = None
    try:
        symbol = "005870"  # 72,000 KRW in the default synthetic universe
        broker = KisBroker(
            config_for(server, REAL_APP), clock=clock, instruments=server.instruments
        )
        assert broker.ws is not None and broker.ws.wait_ready(WAIT)
        broker.subscribe_trades(symbol)
        assert server.wait_subscribed(ep.WS_TRADES, symbol, 1, WAIT)
        assert broker.submit(buy("m1", 3, None, symbol=symbol)).accepted  # before the open
        server.replay(frames, clock)
        events = collect(broker, lambda ev: filled_qty(ev, "m1") == 3)
        (fill,) = fills_of(events)
        assert fill.ts.date() == DAY and fill.price > 0
        quote = broker.quote(symbol)
        assert quote.last > 0 and quote.lower_limit < quote.last < quote.upper_limit
        assert any(t.symbol == symbol for t in broker.drain_market())
        bal = broker.balance()
        assert bal.holdings == {symbol: 3} and bal.cash == expected_cash(fills_of(events))
    finally:
        if broker is not None:
            broker.close()
        server.stop()


def test_serve_kis_listens_until_stopped() -> None:
    lines: list[str] = []
    started, stop = threading.Event(), threading.Event()

    def echo(line: str) -> None:
        lines.append(line)
        if len(lines) == 2:
            started.set()

    kwargs = {"port": 0, "ws_port": 0, "speed": 60.0, "day": DAY, "echo": echo, "stop": stop}
    thread = threading.Thread(target=serve_kis, kwargs=kwargs)
    thread.start()
    try:
        assert started.wait(WAIT)
        rest = lines[0].split("REST ")[1].split()[0]
        assert rest.startswith("http://127.0.0.1:") and "ws://127.0.0.1:" in lines[0]
        body = {"grant_type": "client_credentials", "appkey": "x", "appsecret": "y"}
        assert httpx.post(rest + ep.TOKEN_PATH, json=body).json()["msg_cd"] == "EGW00103"
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive()


@pytest.mark.parametrize(
    "args",
    [["serve", "--broker", "nope"], ["serve", "--speed", "0"], ["serve", "--day", "03/04"]],
)
def test_cli_refuses_bad_arguments(args: list[str]) -> None:
    root = typer.Typer()  # mounted the way qts.cli.main mounts its groups
    root.callback()(lambda: None)
    root.add_typer(sim_app, name="sim")
    result = CliRunner().invoke(root, ["sim", *args])
    assert isinstance(result.exception, ConfigError)
