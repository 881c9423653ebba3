"""Tick tables by date and market, against tables written here from the public record.

Sources, each quoted for the rows it backs:
- KOSDAQ before 2003-07-21 and from then: dongA 2003-05-29 "7월 21일부터 코스닥 호가단위 4단계로
  실시" (현행: 1만원 미만 10원, 1만~5만원 50원, 5만~10만원 100원, 10만~50만원 500원, 50만원 이상
  1000원; 개정: 5000원 미만 5원, 5000원~1만원 10원, 1만~5만원 50원, 5만원 이상 100원) and Seoul
  Economic Daily the same day ("10원ㆍ50원ㆍ100원ㆍ500원ㆍ1,000원의 5단계에서
  5원ㆍ10원ㆍ50원ㆍ100원의 4단계로").
- KOSPI before 2010-10-04: Hankyung's 2000 explainer (5,000원 미만 5원, 5,000~1만원 10원,
  1만~5만원 50원, 5만~10만원 100원, 10만~50만원 500원, 50만원 이상 1000원).
- 2010-10-04: Hankyung 2010-07-30 ("10월4일부터 주가 1000원 미만인 저가주의 호가 가격 단위를 5원에서
  1원으로"), edaily 2010-10-01 (both markets); KRX English pages GLB0602010201T3 (KOSPI) and
  GLB0602020201 (KOSDAQ: <1,000 1 · <5,000 5 · <10,000 10 · <50,000 50 · over 50,000 100).
- 2023-01-25: krx-market-rules.md; Energy Economy and etoday 2023-01-17 (one table for KOSPI,
  KOSDAQ and KONEX; ETF/ETN/ELW stay at 5 KRW, Chosun/Daum 2022-11-01).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qts.market.krx.tick_size import TICK_HISTORY, tick_size, tick_table
from qts.model.instrument import Market

KOSPI, KOSDAQ, KONEX = Market.KOSPI, Market.KOSDAQ, Market.KONEX

# (upper bound exclusive, tick) per era, written out from the sources above
KOSPI_UNTIL_2010 = [(5_000, 5), (10_000, 10), (50_000, 50), (100_000, 100), (500_000, 500)]
KOSPI_2010_2023 = [
    (1_000, 1),
    (5_000, 5),
    (10_000, 10),
    (50_000, 50),
    (100_000, 100),
    (500_000, 500),
]
KOSDAQ_UNTIL_2003 = [(10_000, 10), (50_000, 50), (100_000, 100), (500_000, 500)]
KOSDAQ_2003_2010 = [(5_000, 5), (10_000, 10), (50_000, 50)]
KOSDAQ_2010_2023 = [(1_000, 1), (5_000, 5), (10_000, 10), (50_000, 50)]
ALL_SINCE_2023 = [
    (2_000, 1),
    (5_000, 5),
    (20_000, 10),
    (50_000, 50),
    (200_000, 100),
    (500_000, 500),
]
TOP = {  # tick at and above the last bound
    "KOSPI_UNTIL_2010": 1_000,
    "KOSPI_2010_2023": 1_000,
    "KOSDAQ_UNTIL_2003": 1_000,
    "KOSDAQ_2003_2010": 100,
    "KOSDAQ_2010_2023": 100,
    "ALL_SINCE_2023": 1_000,
}


def expected(day: date, market: Market, price: int) -> int:
    if day >= date(2023, 1, 25):
        bands, top = ALL_SINCE_2023, TOP["ALL_SINCE_2023"]
    elif market is KOSPI:
        if day >= date(2010, 10, 4):
            bands, top = KOSPI_2010_2023, TOP["KOSPI_2010_2023"]
        else:
            bands, top = KOSPI_UNTIL_2010, TOP["KOSPI_UNTIL_2010"]
    elif day >= date(2010, 10, 4):  # KOSDAQ, and KONEX which shared KOSDAQ's table
        bands, top = KOSDAQ_2010_2023, TOP["KOSDAQ_2010_2023"]
    elif day >= date(2003, 7, 21):
        bands, top = KOSDAQ_2003_2010, TOP["KOSDAQ_2003_2010"]
    else:
        bands, top = KOSDAQ_UNTIL_2003, TOP["KOSDAQ_UNTIL_2003"]
    for below, tick in bands:
        if price < below:
            return tick
    return top


EDGES = sorted(
    {
        p + d
        for p in (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000)
        for d in (-1, 0)
    }
    | {1, 999_999, 3_000_000}
)
DAYS = [
    date(1995, 6, 1),  # before the table's horizon: the first row applies
    date(2003, 7, 18),
    date(2003, 7, 21),
    date(2010, 10, 1),
    date(2010, 10, 4),
    date(2023, 1, 20),
    date(2023, 1, 25),
    date(2026, 3, 2),
]


@pytest.mark.parametrize("day", DAYS, ids=str)
@pytest.mark.parametrize("market", [KOSPI, KOSDAQ, KONEX])
def test_tick_at_every_band_edge_equals_the_sources(day: date, market: Market) -> None:
    grid = tick_table(day, market)
    assert [grid.tick(p) for p in EDGES] == [expected(day, market, p) for p in EDGES]


@pytest.mark.parametrize(
    ("day", "market", "price", "tick"),
    [
        (date(2010, 10, 1), KOSPI, 999, 5),  # the Friday before the 1-won tick
        (date(2010, 10, 4), KOSPI, 999, 1),
        (date(2010, 10, 4), KOSDAQ, 999, 1),
        (date(2003, 7, 18), KOSDAQ, 4_990, 10),
        (date(2003, 7, 21), KOSDAQ, 4_995, 5),
        (date(2022, 12, 29), KOSPI, 150_000, 500),  # Hyundai Motor at 166,500: 500-won steps
        (date(2022, 12, 29), KOSDAQ, 150_000, 100),  # KOSDAQ ticked 100 above 50,000
        (date(2023, 1, 25), KOSPI, 166_600, 100),  # "16만6500원, 16만6600원 등 100원 단위"
        (date(2022, 12, 29), KOSPI, 1_500, 5),
        (date(2023, 1, 25), KOSDAQ, 1_500, 1),
    ],
)
def test_quoted_examples(day: date, market: Market, price: int, tick: int) -> None:
    assert tick_table(day, market).tick(price) == tick


@pytest.mark.parametrize("day", DAYS, ids=str)
def test_etf_tick_is_five_won_on_every_date(day: date) -> None:
    grid = tick_table(day, KOSPI, etf=True)
    assert {grid.tick(p) for p in EDGES} == {5}


def test_no_date_means_today_and_today_is_the_2023_table() -> None:
    assert tick_table(None) is tick_table(date(2026, 1, 5))
    assert all(tick_size(p) == expected(date(2026, 1, 5), KOSPI, p) for p in EDGES)


def test_rows_change_exactly_on_their_dates() -> None:
    for row in TICK_HISTORY[1:]:
        before = row.effective_from - timedelta(days=1)
        assert any(tick_table(before, m) != tick_table(row.effective_from, m) for m in Market), (
            row.effective_from
        )


# --- properties on every date and price --------------------------------------------------------

days = st.dates(date(1980, 1, 1), date(2035, 12, 31))
markets = st.sampled_from(list(Market))
prices = st.integers(1, 5_000_000)


@given(days, markets, st.booleans(), prices)
def test_tick_matches_the_independent_table(day: date, market: Market, etf: bool, p: int) -> None:
    want = 5 if etf else expected(day, market, p)
    assert tick_table(day, market, etf).tick(p) == want


@given(days, markets, st.booleans(), prices)
def test_rounding_lands_on_the_grid_and_is_idempotent(
    day: date, market: Market, etf: bool, p: int
) -> None:
    grid = tick_table(day, market, etf)
    up = grid.round_up(p)
    assert grid.is_on_tick(up) and up >= p
    assert grid.round_up(up) == up and grid.round_down(up) == up
    near = grid.round_nearest(p + 0.4)
    assert grid.is_on_tick(near) and grid.round_nearest(near) == near
    if p >= grid.lowest:
        down = grid.round_down(p)
        assert grid.is_on_tick(down) and down <= p
        assert grid.round_down(down) == down and grid.round_up(down) == down
        assert up - down in (0, grid.tick(down), grid.tick(p))


@given(days, markets, st.booleans(), prices, st.integers(-20, 20))
def test_steps_stay_on_the_grid(day: date, market: Market, etf: bool, p: int, n: int) -> None:
    grid = tick_table(day, market, etf)
    q = grid.step(grid.round_up(p), n)
    assert grid.is_on_tick(q)
