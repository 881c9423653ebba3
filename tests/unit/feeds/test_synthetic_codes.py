"""Any valid KRX code in the synthetic market: validity, determinism, a catalog that grows."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from qts.feeds.synthetic import DEFAULT_UNIVERSE
from qts.feeds.synthetic_codes import (
    SyntheticCatalog,
    catalog_frames,
    is_krx_code,
    synthetic_symbol,
)
from qts.market.krx.calendar import KrxCalendar
from qts.market.krx.tick_size import is_on_tick

DAY = date(2026, 3, 4)


@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=5, max_size=5),
       st.sampled_from("0123456789"))  # fmt: skip
def test_six_upper_alphanumerics_led_by_a_digit_are_codes(tail: str, lead: str) -> None:
    code = lead + tail
    assert is_krx_code(code)
    sym = synthetic_symbol(code)
    assert sym == synthetic_symbol(code) and sym.symbol == code  # deterministic
    assert sym.base_price > 0 and is_on_tick(sym.base_price)


def test_invalid_codes_are_not_codes() -> None:
    for bad in ("", "5930", "0059300", "A05930", "00593a", "005 30", "A005930"):
        assert not is_krx_code(bad)
    catalog = SyntheticCatalog()
    assert catalog.add("A05930") is None and catalog.version == 0


def test_the_default_symbols_keep_their_parameters() -> None:
    for sym in DEFAULT_UNIVERSE:
        assert synthetic_symbol(sym.symbol) is sym


def test_a_code_added_mid_day_joins_the_next_frame_and_changes_no_other_bar() -> None:
    cal = KrxCalendar()
    baseline = list(catalog_frames(7, SyntheticCatalog(), [DAY], cal))
    catalog = SyntheticCatalog()
    frames = []
    for i, frame in enumerate(catalog_frames(7, catalog, [DAY], cal)):
        frames.append(frame)
        if i == 10:
            assert catalog.add("005930") is not None
    assert len(frames) == len(baseline)
    assert "005930" not in frames[10].universe.symbols
    assert "005930" in frames[11].universe.symbols
    for old, new in zip(baseline, frames, strict=True):
        assert old.start == new.start
        for s in old.universe.symbols:
            i, j = old.universe.index(s), new.universe.index(s)
            assert old.close[i] == new.close[j] and old.volume[i] == new.volume[j]
    j = frames[-1].universe.index("005930")
    assert frames[-1].close[j] > 0
