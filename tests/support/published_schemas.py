"""Published expert schemas and generated data of the same shape, for the advice test and ``bench/advice.py``.

Each ClickHouse dataset below is a table whose MergeTree schema ClickHouse publishes in its documentation; the
decisions it encodes (partition column, leading ORDER BY column, which string columns are LowCardinality/Enum) are
the expected ones. Its data is generated here with the published column names and types (a subset of the widest
table's columns) and with value distributions whose distinct shares match the full dataset's, so that a sample of
a few 100k rows has the shape that led to the published choices. TPC-H's primary and foreign keys come from its
specification (``tests/support/tpch.py``; data from ``tpchgen-cli``).

Enum8 columns count as low-cardinality decisions (an Enum is ClickHouse's other dictionary encoding of a few
strings); a sort key led by the parts of a date column (``Year, Quarter, Month, DayofMonth, FlightDate``) sorts as
that date column does, so it leads with that column.

Where a published decision conflicts with a general rule the platform keeps, ``conflicts`` says what the rule gives
and why; the bench counts it as not matched, the test checks the rule still gives what is written there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from tests.support import tpch


@dataclass(frozen=True)
class PublishedTable:
    name: str
    url: str
    partition_column: str | None
    """None: published without PARTITION BY."""
    order_by_leading: str
    strings: dict[str, bool]
    """Each string column of the reproduced shape: True when published as LowCardinality/Enum."""
    generate: Callable[[int, np.random.Generator], pa.Table] = field(repr=False)
    conflicts: dict[str, tuple[object, str]] = field(default_factory=dict)
    """Decision subject (``partition_column``, ``order_by_leading`` or a string column) -> (what the rule gives,
    why the published choice is not followed)."""


def _codes(rng: np.random.Generator, count: int, length: int, letters: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ") -> list[str]:
    alphabet = np.array(list(letters))
    return sorted({"".join(rng.choice(alphabet, length)) for _ in range(count * 3)})[:count]


def _zipf_pick(rng: np.random.Generator, values: list[str], rows: int, a: float = 1.3) -> np.ndarray:
    """Values drawn with a long-tailed (Zipf-like) popularity, as names, airports and towns are."""
    weights = 1.0 / np.arange(1, len(values) + 1) ** a
    return rng.choice(np.array(values, dtype=object), rows, p=weights / weights.sum())


def _days(rng: np.random.Generator, start: date, span_days: int, rows: int) -> np.ndarray:
    return np.array([start + timedelta(days=int(d)) for d in np.sort(rng.integers(0, span_days, rows))])


def ontime(rows: int, rng: np.random.Generator) -> pa.Table:
    airlines = ["WN", "DL", "AA", "OO", "UA", "YX", "MQ", "B6", "OH", "AS", "9E", "NK", "F9", "G4", "HA", "EV"]
    airports = _codes(rng, 350, 3)
    cities = {code: f"City {code}, {code[:2]}" for code in airports}
    flight_dates = _days(rng, date(2019, 1, 1), 730, rows)
    carrier = _zipf_pick(rng, airlines, rows, 0.8)
    origin, dest = _zipf_pick(rng, airports, rows), _zipf_pick(rng, airports, rows)
    dep_delay = np.clip(rng.gamma(1.2, 14, rows) - 12, -30, 900).astype(int)
    return pa.table({
        "Year": [d.year for d in flight_dates], "Month": [d.month for d in flight_dates],
        "FlightDate": pa.array(flight_dates, pa.date32()),
        "Reporting_Airline": carrier, "IATA_CODE_Reporting_Airline": carrier,
        "Tail_Number": [f"N{n}{c}" for n, c in zip(rng.integers(100, 999, rows), rng.choice(list("ABCDEFGHJK"), rows))],
        "Origin": origin, "OriginCityName": [cities[o] for o in origin],
        "Dest": dest, "DestCityName": [cities[d] for d in dest],
        "DepDelay": dep_delay, "ArrDelay": dep_delay + rng.integers(-20, 20, rows),
        "Cancelled": (rng.random(rows) < 0.02).astype(int), "Distance": rng.integers(70, 4900, rows),
    })


def uk_price_paid(rows: int, rng: np.random.Generator) -> pa.Table:
    outward = _codes(rng, 2300, 2) + [f"{a}{n}" for a in _codes(rng, 120, 2) for n in range(1, 20)]
    towns = [f"TOWN {i}" for i in range(1150)]
    counties = [f"COUNTY {i}" for i in range(130)]
    streets = [f"{w} {kind}" for w in _codes(rng, 3000, 6) for kind in ("ROAD", "STREET", "LANE")]
    # house names (addr1, the PAON, when not a number) hardly repeat across England and Wales
    names = [f"{a} {b}" for a in _codes(rng, 20_000, 6) for b in ("HOUSE", "COTTAGE", "FARM", "LODGE")]
    addr1 = np.where(rng.random(rows) < 0.7, rng.integers(1, 300, rows).astype(str),
                     rng.choice(np.array(names, dtype=object), rows))
    flats = np.array([f"FLAT {i}" for i in range(1, 120)], dtype=object)
    town = _zipf_pick(rng, towns, rows, 1.0)
    return pa.table({
        "price": np.exp(rng.normal(12.3, 0.7, rows)).astype(np.int64),
        "date": pa.array(_days(rng, date(1995, 1, 1), 365 * 29, rows), pa.date32()),
        "postcode1": _zipf_pick(rng, outward, rows, 0.9), "postcode2": [f"{n}{s}" for n, s in zip(
            rng.integers(1, 9, rows), rng.choice(_codes(rng, 400, 2), rows))],
        "type": rng.choice(np.array(["terraced", "semi-detached", "detached", "flat", "other"], dtype=object), rows,
                           p=[0.3, 0.27, 0.23, 0.18, 0.02]),
        "is_new": (rng.random(rows) < 0.1).astype(int),
        "duration": rng.choice(np.array(["freehold", "leasehold", "unknown"], dtype=object), rows,
                               p=[0.77, 0.229, 0.001]),
        "addr1": addr1, "addr2": pa.array([f if r < 0.12 else None for f, r in zip(rng.choice(flats, rows),
                                                                                  rng.random(rows))]),
        "street": _zipf_pick(rng, streets, rows, 0.7), "locality": _zipf_pick(rng, [f"LOC {i}" for i in range(2000)],
                                                                             rows, 1.0),
        "town": town, "district": [t.replace("TOWN", "DISTRICT") for t in town],
        "county": _zipf_pick(rng, counties, rows, 0.8),
    })


def nyc_taxi(rows: int, rng: np.random.Generator) -> pa.Table:
    start = datetime(2015, 7, 1)
    pickup = np.sort(rng.integers(0, 92 * 86400, rows))
    duration = rng.gamma(2.0, 420, rows).astype(int) + 60
    neighbourhoods = [f"Neighbourhood {i}" for i in range(190)]
    fare = np.round(2.5 + duration / 60 * 0.9 + rng.gamma(1.5, 2, rows), 2)
    tip = np.round(np.where(rng.random(rows) < 0.6, fare * rng.uniform(0.1, 0.25, rows), 0), 2)
    return pa.table({
        "trip_id": np.arange(1_200_000_000, 1_200_000_000 + rows),
        "pickup_datetime": pa.array([start + timedelta(seconds=int(s)) for s in pickup], pa.timestamp("s")),
        "dropoff_datetime": pa.array([start + timedelta(seconds=int(s + d)) for s, d in zip(pickup, duration)],
                                     pa.timestamp("s")),
        "pickup_longitude": np.round(rng.normal(-73.97, 0.04, rows), 6),
        "pickup_latitude": np.round(rng.normal(40.75, 0.03, rows), 6),
        "dropoff_longitude": np.round(rng.normal(-73.97, 0.05, rows), 6),
        "dropoff_latitude": np.round(rng.normal(40.75, 0.04, rows), 6),
        "passenger_count": rng.choice([1, 1, 1, 1, 2, 2, 3, 5, 6], rows),
        "trip_distance": np.round(duration / 60 * 0.3 + rng.gamma(1, 0.5, rows), 2),
        "fare_amount": fare, "tip_amount": tip, "total_amount": np.round(fare + tip + 0.8, 2),
        "payment_type": rng.choice(np.array(["CRE", "CSH", "NOC", "DIS", "UNK"], dtype=object), rows,
                                   p=[0.62, 0.36, 0.01, 0.005, 0.005]),
        "pickup_ntaname": _zipf_pick(rng, neighbourhoods, rows, 1.1),
        "dropoff_ntaname": _zipf_pick(rng, neighbourhoods, rows, 1.0),
    })


_ONTIME_ORDER = (
    "Reporting_Airline", "the rule puts balanced short codes (16 carriers) before the time, as ClickHouse's guidance "
    "(filter columns by ascending cardinality) and the earlier version of this page did (PARTITION BY Year ORDER BY "
    "(IATA_CODE_Reporting_Airline, FlightDate)); the current page sorts by date first. Reporting_Airline and "
    "IATA_CODE_Reporting_Airline hold the same codes here; the first in column order is taken")
_FIXED_AIRPORT = (
    True, "published FixedString(5) (a type kept from the dataset's first schema); 350 distinct 3-letter codes are "
    "what LowCardinality(String) is for (<= 10,000 distinct), and it stores them as compactly")
CLICKHOUSE_TABLES = [
    # https://clickhouse.com/docs/getting-started/example-datasets/ontime
    # ENGINE = MergeTree ORDER BY (Year, Quarter, Month, DayofMonth, FlightDate, IATA_CODE_Reporting_Airline)
    PublishedTable("ontime", "https://clickhouse.com/docs/getting-started/example-datasets/ontime", None,
                   "FlightDate",
                   {"Reporting_Airline": True, "IATA_CODE_Reporting_Airline": True, "Tail_Number": True,
                    "Origin": False, "OriginCityName": True, "Dest": False, "DestCityName": True}, ontime,
                   {"order_by_leading": _ONTIME_ORDER, "Origin": _FIXED_AIRPORT, "Dest": _FIXED_AIRPORT}),
    # https://clickhouse.com/docs/getting-started/example-datasets/uk-price-paid
    # ENGINE = MergeTree ORDER BY (postcode1, postcode2, addr1, addr2)
    PublishedTable("uk_price_paid", "https://clickhouse.com/docs/getting-started/example-datasets/uk-price-paid",
                   None, "postcode1",
                   {"postcode1": True, "postcode2": True, "type": True, "duration": True, "addr1": False,
                    "addr2": False, "street": True, "locality": True, "town": True, "district": True,
                    "county": True}, uk_price_paid,
                   {"addr2": (True, "published String with '' for none; here 88% NULL and ~120 distinct flat "
                                    "names: LowCardinality(Nullable(String)) holds them in one byte a row")}),
    # https://clickhouse.com/docs/getting-started/example-datasets/nyc-taxi
    # ENGINE = MergeTree PRIMARY KEY (pickup_datetime, dropoff_datetime)
    PublishedTable("trips", "https://clickhouse.com/docs/getting-started/example-datasets/nyc-taxi", None,
                   "pickup_datetime",
                   {"payment_type": True, "pickup_ntaname": True, "dropoff_ntaname": True}, nyc_taxi),
]
TPCH_PRIMARY_KEYS = tpch.PRIMARY_KEYS
TPCH_FOREIGN_KEYS = tpch.FOREIGN_KEYS
"""TPC-H specification, clause 1.4.2 (https://www.tpc.org/tpc_documents_current_versions/pdf/tpc-h_v3.0.1.pdf)."""


def write_datasets(directory: Path, rows: int, seed: int = 9) -> Path:
    """One CSV file per published ClickHouse table, ``rows`` rows each, under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for table in CLICKHOUSE_TABLES:
        pa_csv.write_csv(table.generate(rows, np.random.default_rng(seed)), directory / f"{table.name}.csv")
    return directory


@dataclass
class Decision:
    dataset: str
    kind: str
    """primary_key, foreign_key, partition_column, order_by_leading, low_cardinality."""
    subject: str
    expected: object
    proposed: object
    conflict: tuple[object, str] | None = None
    """(what the rule gives, why) when the published decision conflicts with a rule the platform keeps."""

    @property
    def matched(self) -> bool:
        return self.expected == self.proposed


def clickhouse_decisions(recommendations: dict[str, object]) -> list[Decision]:
    """The published ClickHouse decisions against the recommendations (table name -> Recommendation)."""
    decisions: list[Decision] = []
    for table in CLICKHOUSE_TABLES:
        rec = recommendations[table.name]
        decisions.append(Decision(table.name, "partition_column", table.name, table.partition_column,
                                  getattr(rec, "partition_column", None), table.conflicts.get("partition_column")))
        order_by = list(getattr(rec, "order_by", []) or getattr(rec, "primary_key", []))
        decisions.append(Decision(table.name, "order_by_leading", table.name, table.order_by_leading,
                                  order_by[0] if order_by else None, table.conflicts.get("order_by_leading")))
        low = set(getattr(rec, "low_cardinality", []))
        decisions.extend(Decision(table.name, "low_cardinality", column, expected, column in low,
                                  table.conflicts.get(column))
                         for column, expected in table.strings.items())
    return decisions


def tpch_decisions(recommendations: dict[str, object], relationships: object) -> list[Decision]:
    """TPC-H's primary keys (the recommendation's key) and foreign keys (found relationships) against the spec."""
    decisions = [Decision("tpch", "primary_key", table, key, tuple(getattr(recommendations.get(table), "primary_key",
                                                                            ()) or ()))
                 for table, key in TPCH_PRIMARY_KEYS.items()]
    found = {(r.table.table, tuple(r.columns), r.ref_table.table, tuple(r.ref_columns))
             for r in getattr(relationships, "relationships", []) if r.clean}
    decisions.extend(Decision("tpch", "foreign_key", f"{t}({', '.join(c)}) -> {rt}", True, (t, c, rt, rc) in found)
                     for t, c, rt, rc in TPCH_FOREIGN_KEYS)
    return decisions


@dataclass
class PlatformRun:
    """What the platform made of one directory of files: its recommendations, relationships and proofs by table."""

    recommendations: dict[str, object]
    relationships: object
    proofs: dict[str, object]
    result: object = field(repr=False, default=None)


def run_platform(directory: Path, source: str, warehouse: object, metadata: object, *, proofs: bool = True,
                 sample_rows: int = 100_000, runs: int = 5, keep_tables: bool = False) -> PlatformRun:
    """Every file of ``directory`` through the real assets (raw landing, profile, relationships, recommendation,
    DDL and, with ``proofs``, the proof on ``warehouse``) in one ``dg.materialize``."""
    import dagster as dg

    from etl_assets.catalog import SourceTable
    from etl_assets.config.models import CheckSettings, SyncSettings
    from etl_assets.ddl.assets import build_ddl_assets
    from etl_assets.keys import RECOMMENDATION, asset_key, source_resource_key
    from etl_assets.profile.assets import build_profile_assets
    from etl_assets.proof.assets import build_proof_assets, proof_key
    from etl_assets.raw.assets import build_raw_assets
    from etl_assets.recommend.assets import build_recommendation_assets
    from etl_assets.relationships.assets import build_relationship_assets
    from resources.files import FilesResource
    from resources.llm import LlmResource

    files = FilesResource(path=str(directory), source_name=source)
    tables = [SourceTable(kind="files", schema=schema, sync=SyncSettings(), batch_size=50_000, semantic_search=False,
                          text_columns=(), checks=CheckSettings(), target="warehouse") for schema in files.discover()]
    kind = getattr(warehouse, "dialect")
    assets = [*build_raw_assets(tables, warehouse_kind=kind, retry_policy=None),
              *build_profile_assets(tables, warehouse_kind=kind, retry_policy=None),
              *build_relationship_assets(tables), *build_recommendation_assets(tables), *build_ddl_assets(tables),
              *(build_proof_assets(tables, relationships=True) if proofs else [])]
    proof_config = {"sample_rows": sample_rows, "runs": runs, "keep_tables": keep_tables}
    config = {proof_key(t.source, t.name).to_python_identifier(): {"config": proof_config}
              for t in tables} if proofs else {}
    result = dg.materialize(assets, resources={"warehouse": warehouse, "metadata": metadata, "llm": LlmResource(),
                                               source_resource_key(source): files},
                            run_config={"ops": config}, instance=dg.DagsterInstance.ephemeral())
    recommendations = {t.name: result.output_for_node(asset_key(RECOMMENDATION, t.source, t.name)
                                                      .to_python_identifier()) for t in tables}
    measured = {t.name: result.output_for_node(proof_key(t.source, t.name).to_python_identifier())
                for t in tables} if proofs else {}
    return PlatformRun(recommendations, result.output_for_node("relationships__catalog"), measured, result)
