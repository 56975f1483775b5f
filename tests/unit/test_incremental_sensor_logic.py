from sensors.incremental import new_cursor_values


def test_only_tables_whose_cursor_moved_are_reported():
    seen = {"orders": "2026-01-02 00:00:00+00:00", "items": "5"}
    current = {"orders": "2026-01-02 00:00:00+00:00", "items": 7, "empty": None, "new": 1}
    assert new_cursor_values(seen, current) == {"items": "7", "new": "1"}
