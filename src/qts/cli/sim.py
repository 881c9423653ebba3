"""``qts sim serve``: run a local exchange that speaks a real broker's wire protocol.

Each broker registers one serve function in :data:`SERVERS` as ``"module:function"`` (imported
only when chosen, so one broker's dependencies never load for another). The function takes the
keyword arguments of :func:`serve` except ``broker`` — ``host``, ``port``, ``ws_port``, ``seed``,
``speed``, ``mode``, ``day``, ``days`` (``None`` ports mean the broker's own defaults) — and
blocks until interrupted.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import typer

from qts.core.errors import ConfigError

SERVERS: dict[str, str] = {
    "kis": "qts.brokers.kis.fake.serve:serve_kis",
    "kiwoom": "qts.cli.sim:serve_kiwoom",
}


def serve_kiwoom(
    *, host: str, port: int | None, seed: int, speed: float, day: date | None, **_: Any
) -> None:
    """Kiwoom's fake: REST and, on the same port, the real-time WebSocket
    (``/api/dostk/websocket``); the WebSocket port, mode and day count do not apply."""
    from qts.brokers.kiwoom.fake import serve as serve_fake

    def ready(url: str) -> None:
        ws = url.replace("http://", "ws://", 1) + "/api/dostk/websocket"
        typer.echo(
            f"Kiwoom-compatible REST API on {url}, WebSocket {ws} (credentials: docs/brokers.md)"
        )

    serve_fake(host=host, port=port or 0, seed=seed, speed=speed, start=day, on_ready=ready)


app = typer.Typer(
    help="Local simulated venues that speak a broker's real wire protocol.", no_args_is_help=True
)


def _server(broker: str) -> Callable[..., None]:
    target = SERVERS.get(broker)
    if target is None:
        known = ", ".join(sorted(SERVERS))
        raise ConfigError("qts sim serve", "--broker", f"unknown broker {broker!r}; known: {known}")
    module, _, name = target.partition(":")
    fn: Callable[..., None] = getattr(importlib.import_module(module), name)
    return fn


def serve(
    broker: str = "kis",
    host: str = "127.0.0.1",
    port: int | None = None,
    ws_port: int | None = None,
    seed: int = 7,
    speed: float = 60.0,
    mode: str = "paper",
    day: date | None = None,
    days: int = 1,
) -> None:
    """Serve ``broker``'s fake on loopback over the seeded synthetic market; blocks."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError("qts sim serve", "--host", "the simulated venue binds loopback only")
    if not (math.isfinite(speed) and speed > 0):
        raise ConfigError("qts sim serve", "--speed", f"must be a positive number, got {speed}")
    if mode not in ("paper", "real"):
        raise ConfigError("qts sim serve", "--mode", f"expected paper or real, got {mode!r}")
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "ws_port": ws_port,
        "seed": seed,
        "speed": speed,
        "mode": mode,
        "day": day,
        "days": days,
    }
    _server(broker)(**kwargs)


BrokerOpt = Annotated[str, typer.Option("--broker", help=f"One of: {', '.join(SERVERS)}.")]
PortOpt = Annotated[
    int | None,
    typer.Option(
        "--port", min=0, max=65535, help="REST port (default: the broker's own; KIS paper 29443)."
    ),
]
WsPortOpt = Annotated[
    int | None,
    typer.Option(
        "--ws-port",
        min=0,
        max=65535,
        help="WebSocket port (default: the broker's own; KIS paper 31000).",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", min=0, help="Seed of the synthetic market (>= 0).")]
SpeedOpt = Annotated[
    float, typer.Option("--speed", help="Simulated seconds per real second (60: a bar a second).")
]
ModeOpt = Annotated[str, typer.Option("--mode", help="paper or real (TR ids, limits, notices).")]
DayOpt = Annotated[
    str | None,
    typer.Option("--day", help="First trading day, YYYY-MM-DD (default: today or the next)."),
]
DaysOpt = Annotated[int, typer.Option("--days", min=1, help="Trading days to replay.")]
HostOpt = Annotated[str, typer.Option("--host", help="Loopback address to bind.")]


@app.command("serve")
def serve_command(
    broker: BrokerOpt = "kis",
    port: PortOpt = None,
    ws_port: WsPortOpt = None,
    seed: SeedOpt = 7,
    speed: SpeedOpt = 60.0,
    mode: ModeOpt = "paper",
    day: DayOpt = None,
    days: DaysOpt = 1,
    host: HostOpt = "127.0.0.1",
) -> None:
    """Serve a broker-compatible local exchange until Ctrl-C (credentials: docs/brokers.md)."""
    first: date | None = None
    if day is not None:
        try:
            first = date.fromisoformat(day)
        except ValueError:
            raise ConfigError(
                "qts sim serve", "--day", f"expected YYYY-MM-DD, got {day!r}"
            ) from None
    serve(broker, host, port, ws_port, seed, speed, mode, first, days)
