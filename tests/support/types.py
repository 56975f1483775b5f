"""Round-trip checks for type mappers: logical -> system type -> logical, for every supported logical type."""

from __future__ import annotations

from collections.abc import Mapping

from resources.schema import LOGICAL_TYPES, LogicalType, TypeMapper, parse_logical
from resources.schema.types import holds

SUPPORTED = [parse_logical(name) for name in LOGICAL_TYPES if name != "decimal"] + [
    parse_logical(text) for text in ("decimal(5,0)", "decimal(10,2)", "decimal(18,6)", "decimal(38,10)")
]


def assert_round_trips(mapper: TypeMapper, widened: Mapping[str, str] = {}) -> None:
    """Every supported type comes back as itself, or as the wider type ``widened`` declares for it.

    ``widened`` declares, per logical type (as text), the logical type the system reads it back as: a wider type
    (BigQuery stores int16 as INT64) or a carrier (Arrow carries json and uuid as strings).
    """
    failures = []
    for logical in SUPPORTED:
        native = mapper.to_native(logical)
        back = mapper.from_native(native)
        expected = parse_logical(widened.get(str(logical), str(logical)))
        if back != expected or not (holds(back, logical) or str(logical) in widened):
            failures.append(f"{logical} -> {native!r} -> {back} (expected {expected})")
    assert not failures, f"{mapper.system}: " + "; ".join(failures)


def round_trip(mapper: TypeMapper, logical: str | LogicalType) -> LogicalType:
    return mapper.from_native(mapper.to_native(parse_logical(logical)))
