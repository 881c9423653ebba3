"""One view shared by every page, stream, scrape and sheet writer of a process.

Building a view reads the store; many browsers, ``/metrics`` and the sheet writer must not each do
it. The view is rebuilt when the running engine reported a new cycle, or when it is older than
``max_age_s`` (standalone, where only the store tells what changed), and never more often than
``min_interval_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from qts.ui.live import EngineOverlay
from qts.ui.view import ViewBuilder

log = logging.getLogger(__name__)


class ViewCache:
    def __init__(
        self, builder: ViewBuilder, max_age_s: float = 1.0, min_interval_s: float = 0.25
    ) -> None:
        self.builder = builder
        self.max_age_s = max_age_s
        # a store behind a rate-limited API (Google Sheets) is read at most this often
        self.min_interval_s = min_interval_s
        self._lock = threading.Lock()
        self._view: dict[str, Any] | None = None
        self._built_at = 0.0
        self._version = -1
        self.builds = 0
        self.seq = 0  # increases whenever the view's content changed

    @property
    def overlay(self) -> EngineOverlay | None:
        o = self.builder.overlay
        return o if isinstance(o, EngineOverlay) else None

    def get(self) -> dict[str, Any]:
        with self._lock:
            overlay = self.overlay
            version = overlay.version if overlay is not None else -1
            age = time.monotonic() - self._built_at
            if self._view is not None and (
                age < self.min_interval_s or (version == self._version and age < self.max_age_s)
            ):
                return self._view
            view = self.builder.build()
            self.builds += 1
            if self._view is None or _books(view) != _books(self._view):
                self.seq += 1
            view["seq"] = self.seq
            self._view, self._version, self._built_at = view, version, time.monotonic()
            return view


def _books(view: dict[str, Any]) -> Any:
    """The part of a view whose change is news (live timings move all the time)."""
    return {k: v for k, v in view.items() if k not in ("live", "seq")}
