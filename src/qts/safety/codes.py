"""The canonical catalogue of safety codes (decisions.md, "Safety codes").

Every code has a meaning, the stage that raises it, a severity and the action it forces. The
severity decides what the state machine does; the action says what the rest of the system must do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ANOMALY = "ANOMALY"  # suspicious: NORMAL → WARNING
    GUARDRAIL = "GUARDRAIL"  # a boundary reached: the trade or feature is limited; recorded
    FAIL_SAFE = "FAIL_SAFE"  # critical: trading stops (FAIL), repeated → LOCKDOWN
    LOCKDOWN = "LOCKDOWN"  # goes straight to LOCKDOWN


class Action(StrEnum):
    WARN = "WARN"  # record and notify; trading continues
    LIMIT = "LIMIT"  # shrink or refuse the offending order or feature
    BLOCK_ENTRIES = "BLOCK_ENTRIES"  # no new positions; exits continue
    STOP_TRADING = "STOP_TRADING"  # no orders until the cause clears and a clean cycle passes
    LOCKDOWN = "LOCKDOWN"  # no orders until an operator approves recovery
    FLATTEN_AND_LOCKDOWN = "FLATTEN_AND_LOCKDOWN"  # close every position, then LOCKDOWN


class Stage(StrEnum):
    EXTRACT = "Extract"
    TRANSFORM = "Transform"
    EVALUATE = "Evaluate"
    DECIDE = "Decide"
    ACT = "Act"
    LOOP = "Loop"
    CAPITAL = "Capital"
    EXECUTION = "Execution"
    MICRO_LOOP = "MicroLoop"
    EVENTS = "Events"
    SYSTEM = "System"


@dataclass(frozen=True, slots=True)
class SafetyCode:
    code: str
    meaning: str
    stage: Stage
    severity: Severity
    action: Action

    @property
    def is_broker_error(self) -> bool:
        return self.code in BROKER_ERRORS


S, A, G = Severity, Action, Stage
_ROWS: tuple[tuple[str, str, Stage, Severity, Action], ...] = (
    ("FS001", "schema mismatch", G.EXTRACT, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS010", "required raw field missing or stale", G.EXTRACT, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS020", "NaN or Inf in Transform", G.TRANSFORM, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS030", "risk calculation error", G.EVALUATE, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS040", "broker execution error", G.ACT, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS041", "fill data missing", G.ACT, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS042", "order delay or timeout", G.ACT, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS043", "broker disconnected", G.ACT, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS045", "dividend data load failure", G.EXTRACT, S.ANOMALY, A.WARN),
    ("FS050", "equity is zero or negative", G.TRANSFORM, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS060", "ETEDA cycle time exceeded", G.LOOP, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS061", "memory shortage", G.SYSTEM, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS070", "position and ledger disagree", G.TRANSFORM, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS080", "total capital is zero or negative", G.CAPITAL, S.LOCKDOWN, A.LOCKDOWN),
    ("FS081", "a capital pool is negative", G.CAPITAL, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS082", "pool drawdown lock", G.CAPITAL, S.ANOMALY, A.BLOCK_ENTRIES),
    ("FS083", "capital transfer failed and was rolled back", G.CAPITAL, S.ANOMALY, A.WARN),
    ("FS084", "allocation constraints cannot be met", G.CAPITAL, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS085", "all pools locked by LOCKDOWN", G.CAPITAL, S.ANOMALY, A.WARN),
    ("FS090", "every send of a scalp order failed", G.EXECUTION, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS091", "order for the wrong symbol", G.EXECUTION, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS092", "emergency escape executed", G.EXECUTION, S.ANOMALY, A.WARN),
    ("FS093", "fill timeout: remainder cancelled", G.EXECUTION, S.ANOMALY, A.WARN),
    ("FS094", "slippage exceeded", G.EXECUTION, S.ANOMALY, A.WARN),
    ("FS100", "micro risk loop crashed", G.MICRO_LOOP, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS101", "position shadow sync delayed over 1 s", G.MICRO_LOOP, S.ANOMALY, A.WARN),
    ("FS102", "emergency exit executed", G.MICRO_LOOP, S.ANOMALY, A.WARN),
    ("FS103", "ETEDA stop requested by the micro loop", G.MICRO_LOOP, S.ANOMALY, A.BLOCK_ENTRIES),
    ("FS104", "volatility kill switch fired", G.MICRO_LOOP, S.LOCKDOWN, A.FLATTEN_AND_LOCKDOWN),
    ("FS105", "price feed stale", G.MICRO_LOOP, S.ANOMALY, A.WARN),
    ("FS110", "P0 queue overflow", G.EVENTS, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS111", "P0 queue failure", G.EVENTS, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS112", "P1 queue recreation failed", G.EVENTS, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS113", "P0 handler failed after retries", G.EVENTS, S.FAIL_SAFE, A.STOP_TRADING),
    ("FS120", "cache unavailable: reads go to the store", G.SYSTEM, S.ANOMALY, A.WARN),
    ("GR001", "account exposure limit reached", G.EVALUATE, S.GUARDRAIL, A.LIMIT),
    ("GR010", "symbol weight limit reached", G.EVALUATE, S.GUARDRAIL, A.LIMIT),
    ("GR020", "daily loss warning level reached", G.EVALUATE, S.GUARDRAIL, A.BLOCK_ENTRIES),
    ("GR030", "signal conflict or risk not approved", G.DECIDE, S.GUARDRAIL, A.LIMIT),
    ("GR040", "price or position inconsistent", G.DECIDE, S.GUARDRAIL, A.LIMIT),
    ("GR050", "pool ratios do not sum to 100 %", G.CAPITAL, S.GUARDRAIL, A.WARN),
    ("GR051", "pool below its minimum ratio", G.CAPITAL, S.GUARDRAIL, A.WARN),
    ("GR052", "pool above its maximum ratio", G.CAPITAL, S.GUARDRAIL, A.LIMIT),
    ("GR053", "promotion larger than available capital", G.CAPITAL, S.GUARDRAIL, A.LIMIT),
    ("GR054", "daily capital movement over the limit", G.CAPITAL, S.GUARDRAIL, A.LIMIT),
    ("GR055", "pool drift over 10 %", G.CAPITAL, S.GUARDRAIL, A.WARN),
    ("GR060", "too many order slices", G.EXECUTION, S.GUARDRAIL, A.LIMIT),
    ("GR061", "insufficient balance: quantity reduced", G.EXECUTION, S.GUARDRAIL, A.LIMIT),
    ("GR062", "scalp daily trade limit", G.EXECUTION, S.GUARDRAIL, A.BLOCK_ENTRIES),
    ("GR063", "slippage warning", G.EXECUTION, S.GUARDRAIL, A.LIMIT),
    ("GR064", "fill delay", G.EXECUTION, S.GUARDRAIL, A.WARN),
    ("GR070", "trailing stop adjusted too often", G.MICRO_LOOP, S.GUARDRAIL, A.LIMIT),
    ("GR071", "MAE near its threshold", G.MICRO_LOOP, S.GUARDRAIL, A.WARN),
    ("GR072", "time in trade near its limit", G.MICRO_LOOP, S.GUARDRAIL, A.WARN),
    ("GR073", "volatility rising", G.MICRO_LOOP, S.GUARDRAIL, A.WARN),
    ("GR074", "emergency order failed", G.MICRO_LOOP, S.GUARDRAIL, A.WARN),
    ("GR080", "daily trade limit reached", G.DECIDE, S.GUARDRAIL, A.BLOCK_ENTRIES),
    ("GR081", "pool imbalance", G.CAPITAL, S.GUARDRAIL, A.WARN),
    ("GR082", "new entries blocked (DEFENSIVE)", G.DECIDE, S.GUARDRAIL, A.BLOCK_ENTRIES),
    ("GR090", "critical-only event mode", G.EVENTS, S.GUARDRAIL, A.BLOCK_ENTRIES),
    ("AN001", "price spike or crash", G.EXTRACT, S.ANOMALY, A.WARN),
    ("AN010", "symbol or price data missing", G.EXTRACT, S.ANOMALY, A.WARN),
    ("AN020", "PnL jump", G.LOOP, S.ANOMALY, A.WARN),
    ("AN030", "ledger inconsistency", G.TRANSFORM, S.ANOMALY, A.WARN),
    ("AN040", "cycle time surge", G.LOOP, S.ANOMALY, A.WARN),
    ("AN050", "broker latency", G.ACT, S.ANOMALY, A.WARN),
)

CATALOGUE: dict[str, SafetyCode] = {r[0]: SafetyCode(*r) for r in _ROWS}
BROKER_ERRORS = frozenset({"FS040", "FS041", "FS042", "FS043"})


def lookup(code: str) -> SafetyCode:
    try:
        return CATALOGUE[code]
    except KeyError:
        raise KeyError(f"unknown safety code {code!r}") from None
