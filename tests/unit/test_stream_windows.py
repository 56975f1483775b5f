"""Event-time windows against a brute-force recomputation over the same out-of-order events."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pydantic import ValidationError

from etl_assets.config.models import KafkaSource, StreamWindow
from etl_assets.stream.windows import Event, WindowState, apply_batch, events_from_batch, micros
from tests.support.windows import brute_force

S = 1_000_000
AGGREGATES = {"events": "count", "total": "sum(amount)", "mean": "avg(amount)", "low": "min(amount)",
              "high": "max(amount)", "users": "count_distinct(user)", "with_amount": "count(amount)"}
SPECS = {
    "tumbling": dict(kind="tumbling", size="10s", allowed_lateness="5s"),
    "tumbling_strict": dict(kind="tumbling", size="7s"),
    "hop": dict(kind="hop", size="12s", slide="4s", allowed_lateness="3s"),
    "hop_even": dict(kind="hop", size="10s", slide="10s", allowed_lateness="20s"),
    "hop_uneven": dict(kind="hop", size="10s", slide="4s", allowed_lateness="1s"),
    "session": dict(kind="session", gap="6s", allowed_lateness="4s"),
    "session_strict": dict(kind="session", gap="3s"),
}


def spec(name: str, **overrides) -> StreamWindow:
    return StreamWindow(name="w", event_time="ts", group_by=["k"], aggregates=AGGREGATES,
                        **{**SPECS[name], **overrides})


def random_events(seed: int, count: int = 400) -> list[Event]:
    """Times mostly increasing with a jitter of up to 30 s, so a share of events arrives late."""
    rng = random.Random(seed)
    events = []
    for index in range(count):
        time = index * S // 2 + rng.randint(-30, 5) * S + rng.randint(0, S - 1)
        amount = None if rng.random() < 0.1 else rng.randint(-50, 100)
        events.append(Event(key=(rng.choice("abc"),), time=time, position=index,
                            values={"amount": amount, "user": rng.randint(1, 6)}))
    return events


def run_in_batches(window: StreamWindow, events: list[Event], cuts: list[int]) -> tuple[dict, set, list]:
    """Feed the events in micro-batches, carrying the state through JSON, and apply the rows as a table would."""
    table, late, finals_rewritten = {}, set(), []
    state = None
    for begin, end in zip([0, *cuts], [*cuts, len(events)], strict=True):
        batch = apply_batch(window, events[begin:end], WindowState.from_json(state.to_json()) if state else None)
        for key, start in batch.retracted:
            table.pop((key, start), None)
        for row in batch.rows:
            if table.get((row.key, row.window_start), (0, 0, False))[2]:
                finals_rewritten.append(row)
            table[(row.key, row.window_start)] = (row.window_end, row.aggregates, row.final)
        late |= {item.event.position for item in batch.late}
        state = batch.state
    return table, late, finals_rewritten


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_out_of_order_batches_match_the_brute_force_recomputation(name: str, seed: int) -> None:
    window = spec(name)
    events = random_events(seed)
    expected, expected_late = brute_force(window, events)
    table, late, finals_rewritten = run_in_batches(window, events, cuts=[37, 150, 151, 290])

    assert table.keys() == expected.keys()
    for position, (end, aggregates, final) in expected.items():
        got_end, got, got_final = table[position]
        assert (got_end, got_final) == (end, final), position
        assert got == pytest.approx(aggregates), position
    assert late == expected_late
    assert expected_late, "the random input should produce late events"
    assert not finals_rewritten, "a final window was changed afterwards"


def test_one_batch_and_many_batches_agree() -> None:
    window = spec("hop")
    events = random_events(7, 200)
    whole, whole_late, _ = run_in_batches(window, events, cuts=[])
    pieces, pieces_late, _ = run_in_batches(window, events, cuts=list(range(10, 200, 10)))
    assert whole == pieces and whole_late == pieces_late


def test_late_events_are_returned_with_their_reason_and_open_windows_still_update() -> None:
    window = spec("tumbling_strict")  # 7 s windows, no lateness
    first = apply_batch(window, [Event(("a",), 1 * S, {"amount": 1, "user": 1}, position="p0"),
                                 Event(("a",), 15 * S, {"amount": 2, "user": 1}, position="p1")])
    assert [(r.window_start, r.final) for r in first.rows] == [(0, True), (14 * S, False)]
    assert first.state.open == {("a",): {14 * S: first.state.open[("a",)][14 * S]}}

    second = apply_batch(window, [Event(("a",), 3 * S, {"amount": 5, "user": 2}, position="p2"),
                                  Event(("a",), 16 * S, {"amount": 4, "user": 2}, position="p3")], first.state)
    assert [item.event.position for item in second.late] == ["p2"]
    assert "already closed by the watermark 1970-01-01T00:00:15+00:00" in second.late[0].reason
    [row] = second.rows
    assert (row.window_start, row.final, row.aggregates["total"], row.aggregates["users"]) == (14 * S, False, 6, 2)


def test_hop_event_missing_a_closed_window_is_reported_and_counted_in_the_open_ones() -> None:
    window = spec("hop", allowed_lateness="0s")  # 12 s windows every 4 s
    batch = apply_batch(window, [Event(("a",), 17 * S, {"amount": 1, "user": 1}, position=0),
                                 Event(("a",), 10 * S, {"amount": 1, "user": 1}, position=1)])
    # 10 s falls in [0, 12), [4, 16), [8, 20): the first two end before the watermark of 17 s
    assert [item.event.position for item in batch.late] == [1]
    assert "2 window(s)" in batch.late[0].reason and "counted in its 1 open window(s)" in batch.late[0].reason
    assert {r.window_start: r.aggregates["events"] for r in batch.rows}[8 * S] == 2


def test_session_merge_retracts_the_sessions_it_joins() -> None:
    window = spec("session_strict", allowed_lateness="10s")  # gap 3 s
    first = apply_batch(window, [Event(("a",), 10 * S, {"amount": 1, "user": 1}),
                                 Event(("a",), 15 * S, {"amount": 2, "user": 2})])
    assert [(r.window_start, r.window_end, r.final) for r in first.rows] == [(10 * S, 13 * S, False),
                                                                              (15 * S, 18 * S, False)]
    second = apply_batch(window, [Event(("a",), 12 * S, {"amount": 3, "user": 1}),
                                  Event(("a",), int(13.5 * S), {"amount": 4, "user": 3})], first.state)
    assert second.retracted == [(("a",), 15 * S)]
    [row] = second.rows
    assert (row.window_start, row.window_end, row.aggregates["events"], row.aggregates["users"]) == (
        10 * S, 18 * S, 4, 3)


def test_events_without_a_time_or_far_ahead_of_their_timestamp_are_late_and_leave_the_watermark_alone() -> None:
    window = spec("tumbling", max_ahead="1h")
    batch = apply_batch(window, [Event(("a",), None, {}, position=0),
                                 Event(("a",), 10 * 3600 * S, {"amount": 1, "user": 1}, position=1, received=0),
                                 Event(("a",), 5 * S, {"amount": 1, "user": 1}, position=2, received=5 * S)])
    assert [(item.event.position, item.reason.split(" ")[0]) for item in batch.late] == [(0, "no"), (1, "event")]
    assert "more than 1:00:00 ahead" in batch.late[1].reason
    assert batch.state.max_time == 5 * S


def test_a_non_numeric_value_names_the_field_and_the_event() -> None:
    with pytest.raises(ValueError, match=r"field 'amount' of the event at \(0, 7\) is 'x', not a number"):
        apply_batch(spec("tumbling"), [Event(("a",), 0, {"amount": "x", "user": 1}, position=(0, 7))])


@pytest.mark.parametrize(("window", "message"), [
    (dict(kind="tumbling"), "a tumbling window needs size; missing ['size']"),
    (dict(kind="tumbling", size="5m", gap="1m"), "not allowed: ['gap']"),
    (dict(kind="hop", size="1m", slide="5m"), "slide 0:05:00 is longer than size 0:01:00"),
    (dict(kind="session", gap="0s"), "gap must be positive"),
    (dict(kind="tumbling", size="5 minutes"), "'5 minutes' is not a duration"),
    (dict(kind="tumbling", size="5m", aggregates={"n": "median(x)"}), "'median(x)' is not one of"),
    (dict(kind="tumbling", size="5m", aggregates={"n": "sum"}), "sum needs a field, e.g. sum(amount)"),
    (dict(kind="tumbling", size="5m", aggregates={"final": "count"}), "aggregate column 'final' must be"),
])
def test_window_config_errors_say_what_is_wrong(window: dict, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        StreamWindow.model_validate({"name": "w", "event_time": "ts", "aggregates": {"n": "count"}, **window})
    assert message in str(error.value)


def test_windows_must_name_a_topic_of_the_source_and_be_unique() -> None:
    base = {"bootstrap_servers": "x:9092", "topics": ["clicks"]}
    window = {"name": "w", "event_time": "ts", "kind": "tumbling", "size": "1m", "aggregates": {"n": "count"}}
    with pytest.raises(ValidationError, match=r"topic\(s\) \['orders'\] that are not in topics"):
        KafkaSource.model_validate({**base, "windows": {"orders": [window]}})
    with pytest.raises(ValidationError, match=r"window names must be unique; repeated: \['w'\]"):
        KafkaSource.model_validate({**base, "windows": {"clicks": [window, window]}})
    parsed = KafkaSource.model_validate({**base, "windows": {"clicks": [{**window, "size": "1h30m"}]}})
    assert parsed.windows["clicks"][0].size == timedelta(minutes=90)


def test_joins_must_name_topics_of_the_source_and_not_take_a_topic_table_name() -> None:
    side = {"key": "k", "event_time": "ts"}
    join = {"name": "paid", "within": "2m", "left": {"topic": "orders", **side}, "right": {"topic": "payments", **side}}
    base = {"bootstrap_servers": "x:9092", "topics": ["orders", "payments"]}
    assert KafkaSource.model_validate({**base, "joins": [join]}).joins[0].within == timedelta(minutes=2)
    with pytest.raises(ValidationError, match=r"join 'paid': topic\(s\) \['refunds'\] are not in topics"):
        KafkaSource.model_validate({**base, "joins": [{**join, "right": {"topic": "refunds", **side}}]})
    with pytest.raises(ValidationError, match="join 'orders_per_minute': the name is taken by a topic's table"):
        KafkaSource.model_validate({**base, "joins": [{**join, "name": "orders_per_minute"}]})
    with pytest.raises(ValidationError, match=r"join names must be unique; repeated: \['paid'\]"):
        KafkaSource.model_validate({**base, "joins": [join, join]})


def test_events_of_a_landed_batch_carry_key_time_values_and_why_a_time_is_missing() -> None:
    window = spec("tumbling")
    stamp = datetime(2026, 11, 1, tzinfo=UTC)
    timed = pa.RecordBatch.from_pydict({
        "_partition": [0, 0], "_offset": [5, 6], "_timestamp": [stamp, stamp], "k": ["a", None],
        "ts": [stamp, None], "amount": [3, None]})
    first, second = events_from_batch(window, timed)
    assert (first.key, first.time, first.values["amount"], first.position) == (("a",), micros(stamp), 3, (0, 5))
    assert (second.key, second.time, second.untimed) == ((None,), None, None)
    epoch = pa.RecordBatch.from_pydict({"_partition": [0], "_offset": [0], "_timestamp": [stamp], "ts": [90]})
    assert events_from_batch(window, epoch)[0].time == 90 * S
    text = pa.RecordBatch.from_pydict({"_partition": [0], "_offset": [0], "_timestamp": [stamp], "ts": ["soon"]})
    [late] = apply_batch(window, events_from_batch(window, text)).late
    assert late.reason.startswith("event time field 'ts' was landed as string, not as a timestamp")
