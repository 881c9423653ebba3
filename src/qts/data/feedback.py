"""The feedback loop's adapter (spec §8.5): collects execution measures, writes them to
``feedback_data`` and serves the means the next decisions read.

Each measure is stored when its execution ends (so a restart finds it). The means the decisions
read are aggregated in 60 s batches: a row becomes visible at the first minute boundary after
its time, so what a decision at a given instant sees depends only on the executions before it,
not on when the process started — a run resumed after a crash decides exactly as before. Means
are per (symbol, strategy) over the look-back window (30 days, spec §8.4). A failure to store or
to read is logged and counted; it never reaches the caller (feedback must never stop trading,
§12.8 #63) and unstored rows are retried at the next batch.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime, timedelta

from qts.data.market_ports import FeedbackRow, MarketDataStore
from qts.engines.feedback import ExecutionMeasure, FeedbackSummary, summarise
from qts.engines.feedback.summary import DEFAULTS

log = logging.getLogger(__name__)
BATCH_EVERY = timedelta(seconds=60)
LOOKBACK = timedelta(days=30)


class FeedbackLoop:
    def __init__(
        self,
        store: MarketDataStore | None,
        *,
        lookback: timedelta = LOOKBACK,
        batch_every: timedelta = BATCH_EVERY,
    ) -> None:
        self.store = store
        self.lookback = lookback
        self.batch_every = batch_every
        self.lock = threading.Lock()
        self.rows: deque[ExecutionMeasure] = deque()  # inside the look-back window
        self.pending: list[ExecutionMeasure] = []  # not yet stored
        self.failures = 0
        self.stored = 0
        self._last_flush: datetime | None = None
        self.visible_until: datetime | None = None  # rows before this instant are aggregated
        # stores are used from the thread that opened them (SQLite); rows measured on another
        # thread (the P0 handler of a threaded run) wait for the owner's next batch
        self._owner = threading.get_ident()
        self._summaries: dict[tuple[str, str], FeedbackSummary] = {}

    def load(self, now: datetime) -> None:
        """Read the look-back window from the store (best effort)."""
        if self.store is None:
            return
        try:
            rows = self.store.feedback(now - self.lookback, now + timedelta(days=3_650))
        except Exception:
            self.failures += 1
            log.exception("feedback: reading the history failed; using the defaults")
            return
        with self.lock:
            for r in rows:
                self.rows.append(
                    ExecutionMeasure(
                        r.time,
                        r.symbol,
                        r.order_id,
                        r.strategy_tag,
                        r.slippage_bps,
                        r.fill_latency_ms,
                        r.fill_ratio,
                        r.quality_score,
                        r.market_impact_bps,
                    )
                )
            self._summaries.clear()

    # --- the pipeline's port -----------------------------------------------------------------

    def record(self, measure: ExecutionMeasure) -> None:
        """Keep the row and store it now (a failed write waits for the next batch)."""
        with self.lock:
            self.rows.append(measure)
            self.pending.append(measure)
            self._summaries.pop(("", ""), None)
        if threading.get_ident() == self._owner:
            self._store_pending()

    def summary(self, symbol: str, strategy: str) -> FeedbackSummary:
        """Means of the rows aggregated so far (the last batch), for this symbol and strategy."""
        key = (symbol, strategy)
        with self.lock:
            cached = self._summaries.get(key)
            if cached is None:
                until = self.visible_until
                cached = self._summaries[key] = summarise(
                    r
                    for r in self.rows
                    if r.symbol == symbol
                    and r.strategy == strategy
                    and until is not None
                    and r.time < until
                )
            return cached

    def overall(self) -> FeedbackSummary:
        """Means over every row in the window (the status panel and the day report)."""
        with self.lock:
            cached = self._summaries.get(("", ""))
            if cached is None:
                cached = self._summaries[("", "")] = summarise(self.rows)
            return cached

    def day(self, day_start: datetime) -> FeedbackSummary:
        with self.lock:
            return summarise(r for r in self.rows if r.time >= day_start) if self.rows else DEFAULTS

    # --- the 60 s batch ----------------------------------------------------------------------

    def tick(self, now: datetime) -> None:
        """The 60 s batch: at each minute boundary the rows before it become visible to the
        decisions, old rows leave the window and unstored rows are written again."""
        step = int(self.batch_every.total_seconds())
        epoch = int(now.timestamp())
        boundary = datetime.fromtimestamp(epoch - epoch % step, tz=now.tzinfo)
        if self.visible_until is None or boundary > self.visible_until:
            with self.lock:
                self.visible_until = boundary
                self._summaries = {k: v for k, v in self._summaries.items() if k == ("", "")}
            self.flush(now)

    def flush(self, now: datetime) -> int:
        """Store the pending rows and drop rows older than the window; returns rows stored."""
        self._last_flush = now
        with self.lock:
            horizon = now - self.lookback
            dropped = False
            while self.rows and self.rows[0].time < horizon:
                self.rows.popleft()
                dropped = True
            if dropped:
                self._summaries.clear()
        return self._store_pending()

    def _store_pending(self) -> int:
        if threading.get_ident() != self._owner:
            return 0
        with self.lock:
            batch, self.pending = self.pending, []
        if not batch or self.store is None:
            return 0
        try:
            self.store.record_feedback(
                FeedbackRow(
                    time=m.time,
                    symbol=m.symbol,
                    order_id=m.order_id,
                    slippage_bps=m.slippage_bps,
                    fill_latency_ms=m.fill_latency_ms,
                    fill_ratio=m.fill_ratio,
                    quality_score=m.quality_score,
                    market_impact_bps=m.market_impact_bps,
                    strategy_tag=m.strategy,
                )
                for m in batch
            )
        except Exception:
            self.failures += 1
            log.exception("feedback: storing %d rows failed; kept for the next batch", len(batch))
            with self.lock:
                self.pending[:0] = batch
            return 0
        self.stored += len(batch)
        return len(batch)
