"""Pure parsing of Kafka messages into typed rows (no services; kept beside the stream tests it serves)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from etl_assets.stream.parse import ParsedBatch, coerce_to_arrow, infer_logical_type, parse_messages, parse_timestamp
from etl_assets.stream.store import parse_batch, stream_type
from resources.kafka import KafkaMessage
from sensors.kafka import decode_cursor, encode_cursor, idle_ticks_before, waiting_partitions


def message(offset: int, value: bytes | None) -> KafkaMessage:
    return KafkaMessage(partition=1, offset=offset, timestamp_ms=1_790_000_000_000, key=None, value=value)


def test_objects_become_rows_and_everything_else_is_quarantined_with_a_reason() -> None:
    batch = parse_messages([message(0, b'{"a": 1, "b": "x"}'), message(1, None), message(2, b'"text"'),
                            message(3, b'{"_offset": 1}'), message(4, b'{"a": '), message(5, b'{"c": [1]}')])
    assert [(o, r.get("a"), r.get("c")) for o, r in zip(batch.offsets, batch.rows)] == [(0, 1, None), (5, None, [1])]
    assert batch.columns == ["a", "b", "c"]
    assert batch.system_column("_timestamp").to_pylist()[0] == datetime.fromtimestamp(1_790_000_000, tz=UTC)
    assert [(q.offset, q.reason.split(":")[0]) for q in batch.quarantined] == [
        (1, "empty message (null value)"), (2, "expected a JSON object, got str"),
        (3, "key '_offset' is reserved for a system column"), (4, "not valid JSON")]


def test_types_are_inferred_from_the_values() -> None:
    assert infer_logical_type([1, None, 2]) == "int64"
    assert infer_logical_type([1, 2.5]) == "float64"
    assert infer_logical_type([True]) == "bool"
    assert infer_logical_type(["2026-11-01T00:00:44+00:00", "2026-11-01 10:00:00"]) == "timestamptz"
    assert infer_logical_type(["2026-11-01"]) == "string"
    assert infer_logical_type([1, "one"]) == "string"
    assert infer_logical_type([{"k": 1}, 3]) == "json"
    assert infer_logical_type([None]) == "string"


def test_naive_timestamps_are_taken_as_utc() -> None:
    assert parse_timestamp("2026-11-01T10:00:00") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert parse_timestamp("not a time at all") is None


def test_rows_that_do_not_fit_their_columns_are_set_aside() -> None:
    batch = parse_messages([message(0, b'{"n": 1, "t": "2026-11-01T00:00:00Z"}'), message(1, b'{"n": "one"}'),
                            message(2, b'{"n": 9223372036854775808}'), message(3, b'{"s": "a\\u0000b"}')])
    rows, rejected = coerce_to_arrow(batch, {"n": "int64", "t": "timestamptz", "s": "string", "_offset": "int64"})
    assert rows.to_pylist() == [{"n": 1, "t": datetime(2026, 11, 1, tzinfo=UTC), "s": None, "_offset": 0}]
    assert [(q.offset, q.reason) for q in rejected] == [
        (1, 'field \'n\': value "one" does not fit column type int64'),
        (2, "field 'n': value 9223372036854775808 does not fit column type int64"),
        (3, "field 's': contains a NUL character, which PostgreSQL text cannot hold")]
    assert rejected[0].raw == '{"n": "one"}'


def test_whole_columns_convert_at_once_and_odd_values_still_get_their_own_reason() -> None:
    values = [b'{"i": %d, "f": %d, "s": "x%d", "b": true}' % (n, n, n) for n in range(1000)]
    values += [b'{"i": true, "f": 1e400, "s": 7}', b'{"i": 2.0, "f": 1.5, "s": "y"}', b'{"f": 1, "b": 1}']
    batch = parse_messages([message(offset, value) for offset, value in enumerate(values)])
    types = {"i": "int64", "f": "float64", "s": "string", "b": "bool"}
    rows, rejected = coerce_to_arrow(batch, types)
    assert rows.schema.types == [pa.int64(), pa.float64(), pa.string(), pa.bool_()]
    assert rows.num_rows == 1001 and rows.column("i").to_pylist()[-1] == 2
    assert rows.column("f").to_pylist()[-1] == 1.5 and rows.column("s").to_pylist()[:2] == ["x0", "x1"]
    assert [(q.offset, q.reason) for q in rejected] == [
        (1000, "field 'i': value true does not fit column type int64"),
        (1002, "field 'b': value 1 does not fit column type bool")]


ODD_VALUES = [
    None, b"", b"   ", b'"text"', b"[1]", b"not json", b'{"i": 1,}', b'\xef\xbb\xbf{"i": 1}', b' {"i": 1}',
    b'{"i": 1} {"i": 2}', b'{"i": 1}\n{"i": 2}', b'{"i": 1}\r{"i": 2}', b'{"i": 1, "i": 2}', b'{"i": 1.0}',
    b'{"i": 1E2}', b'{"i": true}', b'{"i": "1"}', b'{"i": 99999999999999999999}', b'{"f": NaN}',
    b'{"f": Infinity}', b'{"f": 1e400}', b'{"f": "1.5"}', b'{"s": 5}', b'{"s": true}', b'{"s": {"k": 1}}',
    b'{"s": "a\\u0000b"}', b'{"s": "\\ud800"}', b'{"s": "\xff"}', b'{"s": "a\tb"}', b'{"t": "2026-11-01"}',
    b'{"t": "2026-11-01T10:00:00"}', b'{"t": 5}', b'{"b": 1}', b'{"j": {"k": [1]}}', b'{"j": 3}', b'{"j": "x"}',
    b'{"new": 1}', b'{"_offset": 1}', b'{"": 1}', b'{"i": 1}\x00', b'{"i": 01}',
]


def test_arrow_runs_land_exactly_what_the_per_message_path_lands() -> None:
    """Odd messages inside long runs of good ones: Arrow decodes the good runs, and every odd message gets the
    same row or the same quarantine reason as without Arrow, in the same order."""
    good = [b'{"i": %d, "f": %d.5, "s": "x\\u00e9%d", "b": true, "t": "2026-11-01T10:00:%02dZ"}' % (n, n, n, n % 60)
            for n in range(9000)]
    values = list(good)
    for index, odd in enumerate(ODD_VALUES):
        values.insert(97 + index * 211, odd)
    messages = [message(offset, value) for offset, value in enumerate(values)]
    known = {"i": "int64", "f": "float64", "s": "string", "b": "bool", "t": "timestamptz", "j": "json"}
    fast, slow = parse_messages(messages, known), parse_messages(messages)
    assert fast.arrow_runs and len(fast.rows) < len(values) * 3 // 4
    assert fast.columns == slow.columns and fast.row_count == len(slow.rows)
    assert [(q.offset, q.reason) for q in fast.quarantined] == [(q.offset, q.reason) for q in slow.quarantined]
    types = {**{name: known.get(name, "int64") for name in slow.columns}, "_partition": "int64", "_offset": "int64",
             "_timestamp": "timestamptz"}
    (fast_rows, fast_rejected), (slow_rows, slow_rejected) = coerce_to_arrow(fast, types), coerce_to_arrow(slow, types)
    assert fast_rows.equals(slow_rows) and fast_rows.num_rows > 9000
    assert [(q.offset, q.reason, q.raw) for q in fast_rejected] == [(q.offset, q.reason, q.raw) for q in slow_rejected]
    assert len(fast.quarantined) + len(fast_rejected) > len(ODD_VALUES) // 2
    assert "field 's': contains a lone UTF-16 surrogate" in {q.reason[:43] for q in fast_rejected}


def landed_alike(messages: list[KafkaMessage]) -> ParsedBatch:
    """Parse for a new table as the stream asset does, and check that it lands what the per-message path lands."""
    parsed, added = parse_batch(messages, {})
    slow = parse_messages(messages)
    assert added == {name: infer_logical_type(row.get(name) for row in slow.rows) for name in slow.columns}
    types = {**{name: stream_type(logical) for name, logical in added.items()}, "_offset": "int64"}
    (rows, rejected), (slow_rows, slow_rejected) = coerce_to_arrow(parsed, types), coerce_to_arrow(slow, types)
    assert rows.equals(slow_rows)
    assert [(q.offset, q.reason) for q in rejected] == [(q.offset, q.reason) for q in slow_rejected]
    return parsed


def test_types_of_new_columns_guessed_from_the_first_messages_are_checked_against_all_of_them() -> None:
    values = [b'{"i": %d, "t": "2026-11-01T10:00:00Z", "s": "x%d", "n": null}' % (n, n) for n in range(6000)]
    guessed = landed_alike([message(offset, value) for offset, value in enumerate(values)])
    assert guessed.guessed == {"i": "int64", "t": "timestamptz", "s": "string", "n": "null"} and guessed.arrow_runs
    for late in (b'{"i": 1.5}', b'{"t": "soon"}', b'{"i": "x"}', b'{"s": 5}', b'{"n": 1}', b'{"n": {"k": 1}}'):
        wrong = landed_alike([message(offset, value) for offset, value in enumerate([*values[:5000], late])])
        assert len(wrong.rows) == 5001 or wrong.arrow_runs


def test_sensor_cursor_round_trips_and_waiting_counts_only_partitions_behind() -> None:
    seen = {"clicks": {"ends": {0: 10, 1: 4}, "landed": {0: 10}, "attempt": 2, "idle": 1}}
    assert decode_cursor(encode_cursor(seen)) == seen
    assert decode_cursor('{"clicks": {"ends": {"0": 3}, "landed": {}}}')["clicks"]["attempt"] == 1
    assert [idle_ticks_before(attempt) for attempt in range(1, 8)] == [0, 1, 3, 7, 15, 15, 15]
    assert decode_cursor(None) == {}
    assert waiting_partitions({0: 10, 1: 4, 2: 0}, {0: 10, 1: 1}) == {1: 3}
