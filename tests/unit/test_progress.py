"""Progress of long CLI work: one plain line per item off a terminal, a bar on one."""

import io

from etl_assets.progress import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_each_item_is_one_line_with_its_count():
    out = io.StringIO()
    with progress("steps", stream=out) as tracker:
        tracker.set_total(2)
        tracker.advance("raw__shop__orders")
        tracker.advance("profile__shop__orders", "FAILED")
    assert out.getvalue().splitlines() == ["steps [1/2] raw__shop__orders done",
                                           "steps [2/2] profile__shop__orders FAILED"]


def test_an_unknown_total_still_counts():
    out = io.StringIO()
    with progress("sources", stream=out) as tracker:
        tracker.advance("shop", "3 tables")
    assert out.getvalue() == "sources [1] shop 3 tables\n"


def test_on_a_terminal_a_bar_shows_items_done_of_the_total():
    out = Terminal()
    with progress("sources", stream=out) as tracker:
        tracker.source_done("shop", 1, 2, "3 tables")
        tracker.source_done("files", 2, 2, "1 tables")
    text = out.getvalue()
    assert "2/2" in text and "files 1 tables" in text
    assert "1/2  shop 3 tables" in text and "[####################################]" in text
