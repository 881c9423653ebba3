"""The fake's knobs (KIS's values per mode unless set) and what it saw, for tests."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from qts.brokers.kis import endpoints as ep
from qts.brokers.kis.config import KisMode
from qts.brokers.kis.fake.credentials import FakeApp, default_app
from qts.brokers.sim import SimConfig

STATS_KEEP = 100_000  # request times kept per app key (a long `qts sim serve` stays bounded)


@dataclass(frozen=True, slots=True)
class FakeKisOptions:
    """Knobs of the fake. ``None`` picks KIS's value for the mode."""

    mode: KisMode = KisMode.PAPER
    apps: tuple[FakeApp, ...] = ()
    rate_limit: int | None = None  # requests per window per app key (20 real, 2 paper)
    rate_window_s: float = 1.0
    rate_limit_status: int = 500  # HTTP status of EGW00201 (fixtures disagree: 500 or 200)
    token_error_status: int = 500  # HTTP status of EGW00121/EGW00123
    token_lifetime_s: float = 86_400.0
    token_reissue_interval_s: float = 60.0  # EGW00133 when tokenP comes sooner
    token_same_window_s: float = 6 * 3600.0  # tokenP returns the same token within this
    ping_interval_s: float = 10.0
    max_registrations: int = ep.MAX_REGISTRATIONS
    ccld_page_size: int | None = None  # 100 real, 15 paper
    balance_page_size: int | None = None  # 50 real, 20 paper
    accept_legacy_tr: bool = True
    sim_config: SimConfig | None = None
    pad_msg1: bool = True
    # trade on the simulated exchange's order book (quotes and prints from each bar) and show
    # it in H0STASP0 / inquire-asking-price; off: the documented bar-fill model
    order_book: bool = False

    @property
    def paper(self) -> bool:
        return self.mode is KisMode.PAPER

    @property
    def limit(self) -> int:
        return self.rate_limit if self.rate_limit is not None else (2 if self.paper else 20)

    @property
    def ccld_page(self) -> int:
        return self.ccld_page_size or (15 if self.paper else 100)

    @property
    def balance_page(self) -> int:
        return self.balance_page_size or (20 if self.paper else 50)

    def app_list(self) -> tuple[FakeApp, ...]:
        return self.apps or (default_app(self.mode),)


@dataclass(slots=True)
class ServerStats:
    """What the fake saw; read by tests (values are appended on the loop thread)."""

    accepted: dict[str, deque[float]] = field(default_factory=dict, repr=False)  # by app key
    paths: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    token_expired_hits: int = 0
    tokens_issued: int = 0
    tokens_refused: int = 0
    orders_placed: int = 0
    ws_connections: int = 0
    pongs: int = 0
    pingpongs_sent: int = 0
    notices_sent: int = 0
    faults_fired: int = 0

    def max_in_window(self, app_key: str, window: float = 1.0) -> int:
        """The most accepted requests of ``app_key`` inside any window of ``window`` seconds."""
        times = sorted(self.accepted.get(app_key, []))
        best, j = 0, 0
        for i, t in enumerate(times):
            while t - times[j] >= window:
                j += 1
            best = max(best, i - j + 1)
        return best
