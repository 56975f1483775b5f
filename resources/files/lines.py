"""Mapping pyarrow's CSV row numbers back to physical line numbers.

pyarrow numbers rows (header included) and skips blank lines without counting them; a row swallowed by an
unbalanced quote spans several lines. Both are recorded as *invisible* lines; header and invalid rows are
*non-data* rows. The n-th data row is then the n-th row that is not non-data, on the n-th line that is not invisible.
"""

from __future__ import annotations

from bisect import bisect_right, insort


def nth_kept(n: int, removed: list[int]) -> int:
    """The n-th positive integer (1-based) not in the sorted list ``removed``."""
    candidate = n
    while True:
        shifted = n + bisect_right(removed, candidate)
        if shifted == candidate:
            return candidate
        candidate = shifted


class LineMap:
    def __init__(self, display: str, first_line: int, physical: bool, invisible: list[int], header_rows: int):
        self.display = display
        self.first_line = first_line
        self.physical = physical
        self.invisible = invisible
        """Lines (relative to ``first_line``) that pyarrow does not count as rows; sorted."""
        self.header_rows = header_rows
        self.non_data_rows: list[int] = list(range(1, header_rows + 1))

    def add_invalid_row(self, row: int) -> None:
        insort(self.non_data_rows, row)

    def add_continuation_lines(self, line: int, count: int) -> None:
        relative = line - self.first_line + 1
        for extra in range(1, count + 1):
            insort(self.invisible, relative + extra)

    def row_of_data(self, ordinal: int) -> int:
        return nth_kept(ordinal + 1, self.non_data_rows)

    def line_of_row(self, row: int) -> int:
        return self.first_line - 1 + nth_kept(row, self.invisible)

    def locate_row(self, row: int) -> str:
        if self.physical:
            return f"{self.display}:line {self.line_of_row(row)}"
        return f"{self.display}:record {row - self.header_rows}"

    def locate_data(self, ordinal: int) -> str:
        return self.locate_row(self.row_of_data(ordinal))
