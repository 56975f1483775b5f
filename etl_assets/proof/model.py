"""What a proof by measurement holds: both layouts' bytes on disk and query times, and the verdict drawn from them."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["measured", "failed", "skipped"]
SLOWER_TOLERANCE = 1.1
"""A query counts as slower on the recommended layout when it takes more than this factor of the naive time
(timings of milliseconds vary by a few percent from run to run)."""
ENGINE_CLOCK = "engine time"
"""The elapsed time the engine reports for the query itself (ClickHouse)."""
WALL_CLOCK = "wall time including client overhead"
"""Time around the client's call: the call, the result's transfer and conversion included (PostgreSQL)."""


@dataclass
class QueryTiming:
    name: str
    """What the query does, e.g. "time range on dep_time (1/10 of the span)"."""
    kind: str
    """time_range, group_by, point_lookup, join or logged."""
    sql: str
    """The query on the recommended table, in the engine's dialect."""
    naive_ms: list[float] = field(default_factory=list)
    recommended_ms: list[float] = field(default_factory=list)
    """Wall-clock milliseconds of each timed run, the client's share (call, transfer, conversion) included."""
    naive_rows: int | None = None
    recommended_rows: int | None = None
    error: str | None = None
    naive_read_rows: int | None = None
    recommended_read_rows: int | None = None
    """Rows the engine read to answer it (ClickHouse: what the sort key, partitions and skip indexes spared)."""
    naive_engine_ms: list[float] = field(default_factory=list)
    recommended_engine_ms: list[float] = field(default_factory=list)
    """The engine's own elapsed milliseconds of the same runs (ClickHouse's query summary); empty when it reports
    none (PostgreSQL)."""

    @property
    def naive_median_ms(self) -> float | None:
        return _median(self.naive_ms)

    @property
    def recommended_median_ms(self) -> float | None:
        return _median(self.recommended_ms)

    @property
    def naive_median_engine_ms(self) -> float | None:
        return _median(self.naive_engine_ms)

    @property
    def recommended_median_engine_ms(self) -> float | None:
        return _median(self.recommended_engine_ms)

    @property
    def clock(self) -> str:
        """"engine" when the engine reported every run of both layouts (the speedup uses its time), else "wall"."""
        complete = len(self.naive_engine_ms) == len(self.naive_ms) and len(self.recommended_engine_ms) == len(
            self.recommended_ms)
        return "engine" if self.naive_engine_ms and self.recommended_engine_ms and complete else "wall"

    @property
    def speedup(self) -> float | None:
        """Naive median / recommended median (above 1: the recommended layout is faster), of the engine's time when
        it reported it for both layouts, else of the wall clock: both layouts are always compared on one clock."""
        if self.clock == "engine":
            naive, recommended = self.naive_median_engine_ms, self.recommended_median_engine_ms
        else:
            naive, recommended = self.naive_median_ms, self.recommended_median_ms
        if naive is None or recommended is None or recommended <= 0:
            return None
        return naive / recommended


@dataclass
class Proof:
    source: str
    table: str
    dialect: str
    """The engine both layouts were built on (postgres, clickhouse)."""
    status: Status
    sample_rows: int
    """Rows asked for; ``rows_loaded`` says how many the raw table had to give."""
    rows_loaded: int = 0
    naive_bytes: int | None = None
    recommended_bytes: int | None = None
    queries: list[QueryTiming] = field(default_factory=list)
    query_origin: str = "profile"
    """Where the queries came from: "profile" (derived) or the query log's name."""
    reason: str = ""
    """Why the proof failed or was skipped."""
    notes: list[str] = field(default_factory=list)
    measured_at: str = ""

    @property
    def size_ratio(self) -> float | None:
        """Naive bytes / recommended bytes (above 1: the recommended layout is smaller)."""
        if not self.naive_bytes or not self.recommended_bytes:
            return None
        return self.naive_bytes / self.recommended_bytes

    @property
    def speedup(self) -> float | None:
        """The geometric mean of the per-query speedups (above 1: the recommended layout is faster)."""
        speedups = [q.speedup for q in self.queries if q.speedup]
        return math.exp(statistics.fmean(math.log(s) for s in speedups)) if speedups else None

    @property
    def clock(self) -> str:
        """What the speedup measures, in the summary's words."""
        clocks = {q.clock for q in self.timed}
        if clocks == {"engine"}:
            return ENGINE_CLOCK
        return WALL_CLOCK if clocks <= {"wall"} else f"{ENGINE_CLOCK} where reported, else {WALL_CLOCK}"

    @property
    def slower_queries(self) -> list[str]:
        return [q.name for q in self.queries if q.speedup is not None and q.speedup * SLOWER_TOLERANCE < 1]

    @property
    def flagged(self) -> bool:
        """The recommendation measured worse than naive, or could not hold the sample: slower overall beyond
        SLOWER_TOLERANCE, or larger without being faster by it. Larger and faster is a trade (indexes take space to
        answer queries sooner), stated in the summary, not a fault."""
        if self.status == "failed":
            return True
        if self.status == "skipped":
            return False
        size, speed = self.size_ratio, self.speedup
        slower = speed is not None and speed * SLOWER_TOLERANCE < 1
        faster = speed is not None and speed >= SLOWER_TOLERANCE
        return slower or (size is not None and size < 1 and not faster)

    def summary(self) -> str:
        """E.g. "recommended layout: 3.1x smaller, 2.4x faster on these 4 queries (engine time)"."""
        if self.status == "skipped":
            return f"not measured: {self.reason}"
        if self.status == "failed":
            return f"recommended layout FLAGGED: {self.reason}"
        parts = [_factor(self.size_ratio, "smaller", "larger"),
                 _factor(self.speedup, "faster", "slower") + f" on {_queries(len(self.timed))} ({self.clock})"]
        text = "recommended layout: " + ", ".join(p for p in parts if p)
        if self.flagged:
            text += " - FLAGGED: it measures worse than the naive layout"
        elif self.slower_queries:
            text += f" (slower on: {', '.join(self.slower_queries)})"
        return text

    @property
    def timed(self) -> list[QueryTiming]:
        return [q for q in self.queries if q.speedup is not None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Proof:
        values = dict(data)
        values["queries"] = [QueryTiming(**q) for q in data.get("queries", [])]
        return cls(**values)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _factor(ratio: float | None, better: str, worse: str) -> str:
    if ratio is None:
        return f"{better}: not measured"
    return f"{ratio:.1f}x {better}" if ratio >= 1 else f"{1 / ratio:.1f}x {worse}"


def _queries(count: int) -> str:
    return "this query" if count == 1 else f"these {count} queries"
