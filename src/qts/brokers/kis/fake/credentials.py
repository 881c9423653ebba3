"""Documented test credentials of the local KIS fake (docs/brokers.md).

They open nothing but the fake: they have KIS's shapes (36-char app key, 180-char secret,
8-digit CANO) so that a client's validation treats them like real ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from qts.brokers.kis.config import KisMode


@dataclass(frozen=True, slots=True)
class FakeApp:
    """One app registration at the fake: its keys, its account and its HTS id."""

    app_key: str
    app_secret: str
    cano: str
    acnt_prdt_cd: str
    hts_id: str
    mode: KisMode
    cash: int = 100_000_000

    @property
    def account_no(self) -> str:
        return f"{self.cano}-{self.acnt_prdt_cd}"

    def __repr__(self) -> str:
        return f"FakeApp(mode={self.mode.value}, account=******{self.cano[-2:]})"


def _secret(tag: str) -> str:
    base = f"QTSfakeSECRET{tag}"
    return (base * (180 // len(base) + 1))[:180]


PAPER_APP = FakeApp(
    app_key="PSfakeAPPKEYpaperQTS0000000000000001",
    app_secret=_secret("paper"),
    cano="50000000",
    acnt_prdt_cd="01",
    hts_id="qtsfake",
    mode=KisMode.PAPER,
)
REAL_APP = FakeApp(
    app_key="PSfakeAPPKEYrealQTS00000000000000001",
    app_secret=_secret("real"),
    cano="60000000",
    acnt_prdt_cd="01",
    hts_id="qtsreal",
    mode=KisMode.REAL,
)
assert len(PAPER_APP.app_key) == 36 and len(REAL_APP.app_key) == 36
assert len(PAPER_APP.app_secret) == 180 and len(REAL_APP.app_secret) == 180


def default_app(mode: KisMode) -> FakeApp:
    return PAPER_APP if mode is KisMode.PAPER else REAL_APP
