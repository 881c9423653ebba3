"""The data layer around a run's bar frames: the recorder (ticks, order events) when the books
are in PostgreSQL, and the daily jobs on the run's clock — database maintenance (partitions,
retention, aggregates as of the run's time) and the hybrid store's CD-001 consistency check."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from qts.app.cutover import DailyJob, consistency_job, daily
from qts.app.recorder import MarketRecorder, attach_recorder
from qts.app.wiring import Engine
from qts.model.frame import BarFrame


def with_data_layer(
    engine: Engine,
    frames: Iterable[BarFrame],
    source: str,
    after: datetime | None = None,
    *,
    record_frames: bool = True,
) -> tuple[Iterator[BarFrame], MarketRecorder | None, Callable[[], None]]:
    """The frames to run on, the recorder (None without PostgreSQL) and what to call when the
    loop has ended (flushes what is buffered). ``record_frames``: the paper path records each
    bar as its closing print; a live feed hands the recorder its real prints instead."""
    jobs: list[DailyJob] = []
    frames = iter(frames)
    recorder = attach_recorder(engine, source)
    if recorder is not None:
        frames = recorder.frames(frames, after, record=record_frames)
        jobs.append(recorder.market.run_maintenance)
    check = consistency_job(engine.store)
    if check is not None:
        jobs.append(check)
    if jobs:
        frames = daily(frames, jobs)
    return frames, recorder, (recorder.close if recorder is not None else _nothing)


def _nothing() -> None:
    return None
