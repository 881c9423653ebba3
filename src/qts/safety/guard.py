"""Stage checks the pipeline consults: each returns the safety codes a stage's output raises.

Pure functions of the stage contracts; the runner reports what they return to the supervisor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from qts.engines.contracts import CalcData, Decisions, ExecutionResult, RawData

Finding = tuple[str, str]  # (code, message)

# risk refusals and decide blocks → the guardrail they stand for
GUARDRAIL_OF_REASON = {
    "MAX_EXPOSURE": "GR001",
    "MAX_SYMBOL_WEIGHT": "GR010",
    "DAILY_LOSS_LIMIT": "GR020",
    "SIGNAL_CONFLICT": "GR030",
    "DAILY_TRADE_LIMIT": "GR080",
}


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    max_data_age: timedelta = timedelta(minutes=5)
    price_spike: float = 0.15  # AN001: a bar moving more than this from the previous close


def check_extract(raw: RawData, now: datetime, policy: GuardPolicy) -> list[Finding]:
    out: list[Finding] = []
    frame = raw.frame
    active = frame.active
    if raw.session_open and not active.any():
        out.append(("FS010", "no market data for any symbol in the cycle's bar"))
    if now - frame.end > policy.max_data_age:
        age = (now - frame.end).total_seconds()
        out.append(("FS010", f"market data is stale: the last bar ended {age:.0f} s ago"))
    bad = active & (
        (frame.close <= 0)
        | (frame.low <= 0)
        | (frame.high < frame.low)
        | (frame.close > frame.high)
        | (frame.close < frame.low)
    )
    if bad.any():
        for i in np.flatnonzero(bad)[:5]:
            out.append(
                (
                    "FS010",
                    f"{raw.universe.symbols[i]}: bar fields inconsistent (open {frame.open[i]}, "
                    f"high {frame.high[i]}, low {frame.low[i]}, close {frame.close[i]})",
                )
            )
    # exact integer test: |close - base| / base > spike  ⟺  |close - base| * 10^6 > base * spike_ppm
    base = raw.base_price
    spike_ppm = round(policy.price_spike * 1_000_000)
    spiked = active & (base > 0) & (np.abs(frame.close - base) * 1_000_000 > base * spike_ppm)
    if spiked.any():
        for i in np.flatnonzero(spiked)[:5]:
            move = abs(int(frame.close[i]) - int(base[i])) / int(base[i])
            out.append(
                (
                    "AN001",
                    f"{raw.universe.symbols[i]}: close {frame.close[i]:,} is {move:.1%} from the "
                    f"base price {base[i]:,}",
                )
            )
    return out


def check_transform(calc: CalcData) -> list[Finding]:
    out: list[Finding] = []
    if calc.total_equity <= 0:
        out.append(("FS050", f"total equity {calc.total_equity:,} KRW is not positive"))
    active = calc.raw.frame.active
    for key, ind in calc.indicators.items():
        broken = ind.ready & active & ~np.isfinite(ind.value)
        if broken.any():
            sym = calc.raw.universe.symbols[int(np.flatnonzero(broken)[0])]
            out.append(("FS020", f"indicator {key} is NaN/Inf for {sym}"))
    account = calc.raw.account
    if (account.qty < 0).any():
        out.append(("FS070", "a position quantity is negative"))
    return out


def check_decisions(decisions: Decisions) -> list[Finding]:
    """Guardrails that fired while deciding (one finding per code and cycle is enough)."""
    out: dict[str, Finding] = {}
    for r in decisions.evaluation.results:
        reason = r.risk.reason.split(" ")[0]
        code = GUARDRAIL_OF_REASON.get(reason)
        if code and code not in out:
            out[code] = (code, f"{r.decision.symbol}: {r.risk.reason}")
    for d in decisions.blocked:
        code = GUARDRAIL_OF_REASON.get(d.reason.split(" ")[0])
        if code and code not in out:
            out[code] = (code, f"{d.symbol}: {d.reason}")
    return list(out.values())


def check_act(results: tuple[ExecutionResult, ...]) -> tuple[list[Finding], int]:
    """Broker failures of this cycle's orders, and how many orders the broker accepted."""
    out: list[Finding] = []
    accepted = 0
    for r in results:
        if r.status == "submitted":
            accepted += 1
        elif r.status == "rejected":
            out.append(("FS040", f"broker rejected {r.side} {r.symbol} x{r.qty}: {r.message}"))
        elif r.status == "error":
            out.append(("FS043", f"broker call failed for {r.side} {r.symbol}: {r.message}"))
    return out, accepted
