"""The spreadsheet model: the 9 user sheets of branch ``qts`` plus R_Dash, and QTS's own sheets.

This is the registry the schema guard checks a live spreadsheet against (legacy-core.md §2.3,
§3; decisions.md "Sheets and config"):

- every sheet's name, owner, layout and ``row_start``; tabular sheets have ordered headers on
  ``header_row``, block sheets (Portfolio, Performance, R_Dash) have named blocks of cells;
- a content hash (SHA-256 of the canonical JSON of the normalised registry, ``schema_version``
  excluded) and a per-sheet hash (SHA-256 of the comma-joined headers, or of the block layout);
- ``schema_version`` in semver: removing, renaming or moving a column is MAJOR, adding one is
  MINOR, anything that changes no cell position (a purpose text) is PATCH.

Header spellings: where the legacy repositories spelt a header it is used as spelt ("Symbol",
"Avg_Price(Current_Currency)", "Total_Equity"); where they left it blank the header is the
field key in the same Title_Case style ("Avg_Price_KRW", "Unrealized_PnL_Pct"). Sheets whose name
starts with ``_QTS_`` are QTS's exact records (one column per field of the storage port); the
operator should leave them alone. ``Config_Local`` is a file, not a sheet.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from qts.data.sheets.a1 import column_letter

SCHEMA_VERSION = "1.0.0"


class Owner(StrEnum):
    OPERATOR = "operator"  # edited by hand; QTS reads
    QTS = "qts"  # written by QTS
    UI = "ui"  # written by the dashboard renderer


class Layout(StrEnum):
    TABLE = "table"  # a header row, then one record per row
    BLOCKS = "blocks"  # a dashboard of titled blocks at fixed cells


class Bump(StrEnum):
    MAJOR = "MAJOR"
    MINOR = "MINOR"
    PATCH = "PATCH"


@dataclass(frozen=True, slots=True)
class Column:
    field: str
    header: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Block:
    name: str
    title_cell: str
    title_range: str
    body_range: str
    fields: tuple[tuple[str, str], ...]  # (field, anchor cell)


@dataclass(frozen=True, slots=True)
class SheetSpec:
    name: str
    owner: Owner
    purpose: str
    layout: Layout = Layout.TABLE
    columns: tuple[Column, ...] = ()
    blocks: tuple[Block, ...] = ()
    header_row: int = 1
    row_start: int = 2

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    @property
    def fields(self) -> list[str]:
        return [c.field for c in self.columns]

    @property
    def width(self) -> int:
        return len(self.columns)

    @property
    def last_column(self) -> str:
        return column_letter(max(self.width, 1))

    def letter(self, field_name: str) -> str:
        return column_letter(self.fields.index(field_name) + 1)

    def normalized(self) -> dict[str, Any]:
        """The structure that is hashed (legacy: ``{sheet_name, row_start, mapping, layout}``)."""
        return {
            "sheet_name": self.name,
            "owner": str(self.owner),
            "layout": str(self.layout),
            "header_row": self.header_row,
            "row_start": self.row_start,
            "mapping": {
                c.field: {
                    "column": column_letter(i + 1),
                    "header": c.header,
                    "required": c.required,
                }
                for i, c in enumerate(self.columns)
            },
            "blocks": {
                b.name: {
                    "title_cell": b.title_cell,
                    "title_range": b.title_range,
                    "body_range": b.body_range,
                    "fields": dict(b.fields),
                }
                for b in self.blocks
            },
        }

    def content_hash(self) -> str:
        """Tables: SHA-256 of the comma-joined headers (the legacy doc algorithm); blocks: of the
        canonical JSON of the layout."""
        if self.layout is Layout.TABLE:
            text = ",".join(self.headers)
        else:
            text = _canonical(self.normalized()["blocks"])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _table(
    name: str,
    owner: Owner,
    purpose: str,
    columns: Iterable[tuple[str, str] | tuple[str, str, bool]],
) -> SheetSpec:
    cols = tuple(Column(c[0], c[1], bool(c[2]) if len(c) > 2 else False) for c in columns)
    return SheetSpec(name, owner, purpose, Layout.TABLE, cols)


def _blocks(name: str, owner: Owner, purpose: str, blocks: Iterable[Block]) -> SheetSpec:
    return SheetSpec(name, owner, purpose, Layout.BLOCKS, blocks=tuple(blocks))


def _b(name: str, title: str, body: str, fields: str) -> Block:
    """``title`` "A1:R1" (first cell is the title cell); ``fields`` "total_equity B2, ..."."""
    pairs = tuple(tuple(f.split()) for f in fields.split(","))
    return Block(name, title.split(":")[0], title, body, tuple((p[0], p[1]) for p in pairs))


_CONFIG_COLUMNS = (
    ("category", "CATEGORY", True),
    ("subcategory", "SUB_CATEGORY", True),
    ("key", "KEY", True),
    ("value", "VALUE", True),
    ("description", "DESCRIPTION"),
    ("tag", "TAG"),
)

# ---------------------------------------------------------------- the 9 user sheets + R_Dash

CONFIG_SCALP = _table("Config_Scalp", Owner.OPERATOR, "Scalp strategy tunables", _CONFIG_COLUMNS)
CONFIG_SWING = _table("Config_Swing", Owner.OPERATOR, "Swing strategy tunables", _CONFIG_COLUMNS)

POSITION = _table(
    "Position",
    Owner.QTS,
    "current holdings, one row per symbol ever held (a view of _QTS_Positions)",
    (
        ("symbol", "Symbol", True),
        ("name", "Name", True),
        ("market", "Market", True),
        ("qty", "Qty", True),
        ("avg_price_current_currency", "Avg_Price(Current_Currency)", True),
        ("current_price_current_currency", "Current_Price(Current_Currency)"),
        ("avg_price_krw", "Avg_Price_KRW"),
        ("current_price_krw", "Current_Price_KRW"),
        ("market_value_krw", "Market_Value_KRW"),
        ("unrealized_pnl_krw", "Unrealized_PnL_KRW"),
        ("unrealized_pnl_pct", "Unrealized_PnL_Pct"),
        ("strategy", "Strategy"),
        ("atr", "ATR"),
        ("atr_pct", "ATR_Pct"),
        ("last_atr_pct", "Last_ATR_Pct"),
        ("atr_stop", "ATR_Stop"),
        ("atr_target", "ATR_Target"),
        ("sector", "Sector"),
        ("tag", "Tag"),
        ("note", "Note"),
    ),
)

T_LEDGER = _table(
    "T_Ledger",
    Owner.QTS,
    "every execution, one row per fill (a view of _QTS_Ledger)",
    (
        ("timestamp", "Timestamp", True),
        ("symbol", "Symbol", True),
        ("market", "Market", True),
        ("side", "Side", True),
        ("qty", "Qty", True),
        ("price", "Price", True),
        ("amount_local", "Amount_Local", True),
        ("currency", "Currency", True),
        ("fx_rate", "FX_Rate"),
        ("amount_krw", "Amount_KRW"),
        ("fee_tax", "Fee_Tax"),
        ("net_amount_krw", "Net_Amount_KRW"),
        ("order_id", "Order_ID"),
        ("strategy", "Strategy"),
        ("position_after", "Position_After"),
        ("hold_days", "Hold_Days"),
        ("pnl", "PnL"),
        ("pnl_pct", "PnL_Pct"),
        ("tag", "Tag"),
        ("broker", "Broker"),
        ("note", "Note"),
    ),
)

HISTORY = _table(
    "History",
    Owner.QTS,
    "daily account history, one row per KST trading day (a view of _QTS_Equity)",
    (
        ("date", "Date"),
        ("total_equity", "Total_Equity"),
        ("daily_pnl", "Daily_PnL"),
        ("daily_return", "Daily_Return"),
        ("cumulative_return", "Cumulative_Return"),
        ("volatility_20d", "Volatility_20D"),
        ("high_watermark", "High_Watermark"),
        ("drawdown", "Drawdown"),
        ("mdd", "MDD"),
        ("note", "Note"),
    ),
)

STRATEGY = _table(
    "Strategy",
    Owner.QTS,
    "per-strategy performance (decisions.md: a performance table, not parameters)",
    (
        ("strategy", "Strategy", True),
        ("trades", "Trades"),
        ("win_rate", "Win_Rate"),
        ("total_pnl", "Total_PnL"),
        ("avg_pnl", "Avg_PnL"),
        ("cumulative_return", "Cumulative_Ret"),
        ("mdd", "MDD"),
        ("volatility", "Volatility"),
        ("avg_holding_days", "Avg_Holding_Days"),
        ("sharpe_score", "Sharpe_Score"),
        ("risk_score", "Risk_Score"),
        ("net_score", "Net_Score"),
        ("note", "Note"),
    ),
)

PORTFOLIO = _blocks(
    "Portfolio",
    Owner.QTS,
    "portfolio KPI dashboard",
    (
        _b(
            "kpi_overview",
            "A1:R1",
            "A2:R3",
            "total_equity B2, daily_pnl D2, exposure G2, cash_ratio J2, holdings_count M2, "
            "killswitch_status P2",
        ),
        _b(
            "risk_summary",
            "T1:U1",
            "T2:U14",
            "exposure_flag T2, volatility_flag T4, pnl_flag T6, concentration_flag T8, "
            "market_flag T10",
        ),
        _b("portfolio_allocation", "V1:Z1", "V2:Z14", "symbol V2, market_value W2, weight X2"),
        _b(
            "sector_detail_table",
            "J16:R16",
            "J17:R34",
            "sector J17, market_value K17, pnl L17, weight M17",
        ),
        _b("monthly_pnl_trend", "A16:R16", "A17:R20", "month A17, monthly_pnl B17, mom_change C17"),
    ),
)

PERFORMANCE = _blocks(
    "Performance",
    Owner.QTS,
    "performance dashboard",
    (
        _b(
            "kpi_summary",
            "A1:H1",
            "A2:H5",
            "total_return B2, mdd C2, daily_vol D2, sharpe E2, win_rate F2, avg_win G2, "
            "avg_loss H2",
        ),
        _b(
            "cumulative_return",
            "A7:Q7",
            "A8:Q18",
            "date A8, equity_curve B8, benchmark_curve C8",
        ),
        _b(
            "monthly_trend",
            "A20:H20",
            "A21:H28",
            "month A21, monthly_return B21, cumulative_monthly_return C21, mom_change D21",
        ),
        _b(
            "strategy_contribution",
            "J20:Q20",
            "J21:Q28",
            "strategy J21, trades K21, win_rate L21, avg_pnl M21, contribution N21",
        ),
        _b("distribution", "A30:H30", "A31:H43", "bins A31, count B31, probability C31"),
        _b("rolling_sharpe", "J30:Q30", "J31:Q36", "date J31, rolling_sharpe K31"),
        _b("rolling_volatility", "J37:Q37", "J38:Q43", "date J38, rolling_volatility K38"),
        _b(
            "summary_table",
            "A45:H45",
            "A46:H70",
            "date A46, daily_pnl B46, cum_pnl C46, return_pct D46, mdd E46, exposure F46, "
            "drawdown G46, notes H46",
        ),
    ),
)

DIVIDEND = _table(
    "Dividend",
    Owner.OPERATOR,
    "dividend summary (reference only; the dividend JSON DB is authoritative)",
    (
        ("year", "Year", True),
        ("ticker_005930", "Ticker_005930"),
        ("ticker_000660", "Ticker_000660"),
        ("ticker_005930_amount", "Ticker_005930_Amount"),
        ("ticker_000660_amount", "Ticker_000660_Amount"),
        ("total_dividend", "Total_Dividend"),
        ("dividend_yield", "Dividend_Yield"),
        ("pay_month", "Pay_Month"),
    ),
)

R_DASH = _blocks(
    "R_Dash",
    Owner.UI,
    "risk dashboard (UI target)",
    (
        _b(
            "global_risk_panel",
            "A1:E1",
            "A2:E3",
            "killswitch_state A3, exposure_level B3, daily_loss_cap C3, portfolio_mdd D3, "
            "final_risk_level E3",
        ),
        _b(
            "daily_risk_status",
            "A5:F5",
            "A6:F7",
            "daily_pnl A7, unrealized_pnl B7, realized_pnl C7, dd_today D7, pnl_status E7, "
            "loss_cap_trigger F7",
        ),
        _b(
            "market_risk_indicators",
            "H5:N5",
            "H6:N7",
            "vix H7, kospi_vol I7, kosdaq_vol J7, usdkrw_vol K7, btc_vol L7, market_risk_level M7",
        ),
        _b(
            "position_risk_checks",
            "A9:F9",
            "A10:F12",
            "total_exposure A11, max_position_count B11, max_position_pct C11, concentration D11, "
            "avg_position_risk E11, position_rule_status F11",
        ),
        _b(
            "portfolio_risk_score",
            "H9:K9",
            "H10:K12",
            "final_risk_score H11, final_risk_rating I11",
        ),
        _b(
            "risk_flags_panel",
            "A13:F13",
            "A14:F15",
            "exposure_flag A15, volatility_flag B15, pnl_flag C15, concentration_flag D15, "
            "strategy_flag E15, market_flag F15",
        ),
    ),
)

USER_SHEETS = (
    CONFIG_SCALP,
    CONFIG_SWING,
    POSITION,
    T_LEDGER,
    HISTORY,
    STRATEGY,
    PORTFOLIO,
    PERFORMANCE,
    DIVIDEND,
)

# ---------------------------------------------------------------- QTS's exact records


def _qts(name: str, purpose: str, fields: str) -> SheetSpec:
    return _table(name, Owner.QTS, purpose, ((f, f, True) for f in fields.split()))


QTS_SCHEMA = _qts(
    "_QTS_Schema", "the schema version the spreadsheet was laid out with", "key value"
)
QTS_RUN = _qts(
    "_QTS_Run", "run metadata (one row)", "run_id mode initial_cash seed started_at config"
)
QTS_ORDERS = _qts(
    "_QTS_Orders",
    "orders, in the order they were first saved",
    "client_order_id symbol side order_type qty limit_price created_at strategy track status "
    "filled_qty filled_amount venue_order_id reason updated_at fill_ids",
)
QTS_FILLS = _qts(
    "_QTS_Fills",
    "fills, in booking order",
    "fill_id client_order_id symbol side qty price ts commission tax",
)
QTS_LEDGER = _qts(
    "_QTS_Ledger",
    "the trade ledger by seq (append-only)",
    "seq ts symbol market side qty price amount commission tax net_amount client_order_id "
    "fill_id strategy position_after pnl settle_date",
)
QTS_POSITIONS = _qts(
    "_QTS_Positions",
    "positions by symbol, closed ones included",
    "symbol qty cost_basis realized_pnl last_price opened_at track strategy high_since_open "
    "low_since_open",
)
QTS_ACCOUNT = _qts(
    "_QTS_Account", "cash (row 'cash') and pending settlements (rows 'pending')", "item date amount"
)
QTS_DECISIONS = _qts(
    "_QTS_Decisions",
    "ETEDA decisions (append-only)",
    "ts cycle_id symbol action strategy price qty approved reason act_status metadata",
)
QTS_EQUITY = _qts(
    "_QTS_Equity",
    "PnL history, one point per instant, in time order",
    "ts cash market_value equity realized unrealized fees",
)
QTS_SAFETY = _qts(
    "_QTS_Safety",
    "safety history (append-only)",
    "ts kind code message state_before state_after operator",
)
QTS_STATE = _qts("_QTS_State", "JSON state documents by key", "key value")

QTS_SHEETS = (
    QTS_SCHEMA,
    QTS_RUN,
    QTS_ORDERS,
    QTS_FILLS,
    QTS_LEDGER,
    QTS_POSITIONS,
    QTS_ACCOUNT,
    QTS_DECISIONS,
    QTS_EQUITY,
    QTS_SAFETY,
    QTS_STATE,
)


@dataclass(frozen=True)
class Registry:
    """Expected sheets by name, with the version they make up."""

    version: str
    sheets: Mapping[str, SheetSpec] = field(default_factory=dict)

    @classmethod
    def of(cls, version: str, specs: Iterable[SheetSpec]) -> Registry:
        return cls(version, {s.name: s for s in specs})

    def __getitem__(self, name: str) -> SheetSpec:
        return self.sheets[name]

    def __contains__(self, name: object) -> bool:
        return name in self.sheets

    def normalized(self) -> dict[str, Any]:
        return {name: spec.normalized() for name, spec in sorted(self.sheets.items())}

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of every sheet's structure (version excluded)."""
        return hashlib.sha256(_canonical(self.normalized()).encode("utf-8")).hexdigest()

    def to_json(self) -> str:
        """The schema file: ``{"schema_version", "schema_hash", "sheets": {...}}``."""
        return json.dumps(
            {
                "schema_version": self.version,
                "schema_hash": self.content_hash(),
                "sheets": self.normalized(),
            },
            ensure_ascii=False,
            indent=2,
            sort_keys=True,
        )


REGISTRY = Registry.of(SCHEMA_VERSION, (*USER_SHEETS, R_DASH, *QTS_SHEETS))

# ---------------------------------------------------------------- versions and diffs


@dataclass(frozen=True, slots=True, order=True)
class SemVer:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> SemVer:
        parts = text.strip().split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"schema version {text!r} is not MAJOR.MINOR.PATCH")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))

    def bump(self, kind: Bump | None) -> SemVer:
        if kind is Bump.MAJOR:
            return SemVer(self.major + 1, 0, 0)
        if kind is Bump.MINOR:
            return SemVer(self.major, self.minor + 1, 0)
        if kind is Bump.PATCH:
            return SemVer(self.major, self.minor, self.patch + 1)
        return self

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two registries. ``kind``: SHEET_ADDED, SHEET_REMOVED,
    FIELD_ADDED, FIELD_REMOVED, FIELD_RENAMED, FIELD_MOVED, STRUCT_CHANGED, TEXT_CHANGED."""

    kind: str
    sheet: str
    detail: str = ""

    @property
    def bump(self) -> Bump:
        if self.kind in ("SHEET_REMOVED", "FIELD_REMOVED", "FIELD_RENAMED", "FIELD_MOVED"):
            return Bump.MAJOR
        if self.kind == "STRUCT_CHANGED":
            return Bump.MAJOR
        if self.kind in ("SHEET_ADDED", "FIELD_ADDED"):
            return Bump.MINOR
        return Bump.PATCH


def diff(old: Registry, new: Registry) -> list[Change]:
    """What changed from ``old`` to ``new``, sheet by sheet, field by field."""
    out: list[Change] = []
    for name in sorted(set(old.sheets) | set(new.sheets)):
        a, b = old.sheets.get(name), new.sheets.get(name)
        if a is None:
            out.append(Change("SHEET_ADDED", name))
            continue
        if b is None:
            out.append(Change("SHEET_REMOVED", name))
            continue
        if (a.layout, a.header_row, a.row_start) != (b.layout, b.header_row, b.row_start):
            out.append(Change("STRUCT_CHANGED", name, "layout, header_row or row_start"))
        if a.blocks != b.blocks:
            out.append(Change("STRUCT_CHANGED", name, "block layout"))
        old_fields = {c.field: (i, c.header) for i, c in enumerate(a.columns)}
        new_fields = {c.field: (i, c.header) for i, c in enumerate(b.columns)}
        for f, (i, header) in old_fields.items():
            if f not in new_fields:
                out.append(Change("FIELD_REMOVED", name, f"{f} ({column_letter(i + 1)})"))
                continue
            j, new_header = new_fields[f]
            if new_header != header:
                out.append(Change("FIELD_RENAMED", name, f"{f}: {header!r} -> {new_header!r}"))
            if j != i:
                out.append(
                    Change(
                        "FIELD_MOVED",
                        name,
                        f"{f}: {column_letter(i + 1)} -> {column_letter(j + 1)}",
                    )
                )
        for f, (j, _) in new_fields.items():
            if f not in old_fields:
                out.append(Change("FIELD_ADDED", name, f"{f} ({column_letter(j + 1)})"))
        if a.purpose != b.purpose or a.owner != b.owner:
            out.append(Change("TEXT_CHANGED", name))
    return out


def required_bump(changes: Iterable[Change]) -> Bump | None:
    """The largest bump any change needs (None: nothing changed)."""
    order = {Bump.PATCH: 0, Bump.MINOR: 1, Bump.MAJOR: 2}
    best: Bump | None = None
    for change in changes:
        if best is None or order[change.bump] > order[best]:
            best = change.bump
    return best


def next_version(old: Registry, new: Registry) -> str:
    """The version ``new`` must carry after ``old``, by the bump rule."""
    return str(SemVer.parse(old.version).bump(required_bump(diff(old, new))))
