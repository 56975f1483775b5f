"""Progress of long CLI work: a bar on a terminal, one plain line per item otherwise (logs, CI, pipes)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import click


class Progress:
    """Items done out of ``total`` (None while unknown). ``advance(item)`` marks one more item done."""

    def __init__(self, label: str, total: int | None, stream: IO[str], tty: bool):
        self.label, self.total, self.done = label, total, 0
        self._stream, self._tty = stream, tty
        self._bar: object | None = None

    def set_total(self, total: int) -> None:
        if self.total is None:
            self.total = total
            self._open_bar()

    def advance(self, item: str, outcome: str = "done") -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1, f"{item} {outcome}")  # type: ignore[attr-defined]
            return
        of = f"/{self.total}" if self.total else ""
        click.echo(f"{self.label} [{self.done}{of}] {item} {outcome}", file=self._stream)

    def source_done(self, source: str, done: int, total: int, outcome: str) -> None:
        """The ``on_source`` callback of :func:`etl_assets.discovery.discover_sources`."""
        self.set_total(total)
        self.advance(source, outcome)

    def note(self, line: str) -> None:
        """A line that must stay visible (a failure), printed above the bar."""
        if self._bar is not None:
            click.echo("", file=self._stream)
        click.echo(line, file=self._stream)

    def _open_bar(self) -> None:
        if self._tty and self.total:
            self._bar = click.progressbar(length=self.total, label=self.label, file=self._stream,
                                          item_show_func=lambda item: item or "", show_pos=True)
            self._bar.__enter__()  # type: ignore[attr-defined]

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)  # type: ignore[attr-defined]
            self._bar = None


@contextmanager
def progress(label: str, total: int | None = None, stream: IO[str] | None = None) -> Iterator[Progress]:
    """Report progress on ``stream`` (stderr by default, so stdout stays for results)."""
    out = stream or sys.stderr
    tracker = Progress(label, total, out, tty=out.isatty())
    tracker._open_bar()
    try:
        yield tracker
    finally:
        tracker.close()
