"""Embedded PostgreSQL on 127.0.0.1 with password auth, data in one directory, started and stopped on demand.

PostgreSQL refuses to run as root, so as root the server runs as the system user ``embedded_postgres``. That user
may not be able to enter the clone (``/root/...``, a ``mktemp -d`` directory), so as root its binaries and its data
live in directories this module creates under ``/var/lib/aietl-embedded-postgres`` (or ``$AIETL_EMBEDDED_PG_DIR``)
and ``data_dir/pgdata`` is a symlink to the data. The permissions of directories it did not create are never changed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psycopg

with warnings.catch_warnings():
    # embedded-postgres asks platformdirs for a runtime directory at import; without XDG_RUNTIME_DIR (root, cron,
    # containers) platformdirs warns and falls back to /tmp, which is what this module wants anyway.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

SYSTEM_USER = "embedded_postgres"
SERVER_ROOT_ENV = "AIETL_EMBEDDED_PG_DIR"
DEFAULT_SERVER_ROOT = Path("/var/lib/aietl-embedded-postgres")
START_TIMEOUT_S = 60
ORPHAN_AGE_S = 600
LOGICAL_DECODING = "-c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10"
"""So that PostgreSQL sources with ``cdc: true`` work on the embedded server too (Debezium's pgoutput slot)."""
OWNER_RECORD = "data_dir"


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server under ``data_dir`` listening on ``127.0.0.1:port`` with one password-protected role."""

    data_dir: Path
    port: int
    user: str = "aietl"
    password: str = "aietl"

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()

    @property
    def pgdata(self) -> Path:
        """``data_dir/pgdata``; as root, the directory that symlink points to once ``start`` has made it."""
        link = self.data_dir / "pgdata"
        if _as_root() and link.is_symlink():
            return Path(os.readlink(link))
        return link

    @property
    def log_file(self) -> Path:
        return self.pgdata.parent / "postgres.log"

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> EmbeddedPostgres:
        """Initialise on first use, then start; a server already running on this directory is reused."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if _as_root():
            self._prepare_server_dir()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            self._pg_ctl(["-w", "-t", str(START_TIMEOUT_S), "-l", str(self.log_file), "-o",
                          f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.pgdata} {LOGICAL_DECODING}", "start"])
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

    def _prepare_server_dir(self) -> None:
        """As root: find (through the symlink) or make the server directory that holds pgdata and the log."""
        link = self.data_dir / "pgdata"
        data_root = _server_root() / "data"
        entry = _server_user()
        if link.is_symlink() and Path(os.readlink(link)).parent.is_dir():
            server_dir = Path(os.readlink(link)).parent
        else:
            if link.is_symlink():
                link.unlink()
            server_dir = Path(tempfile.mkdtemp(prefix="pg-", dir=data_root))
            os.chown(server_dir, entry.pw_uid, entry.pw_gid)
            if link.is_dir():
                self._adopt_existing_pgdata(link, server_dir / "pgdata", entry)
            link.symlink_to(server_dir / "pgdata", target_is_directory=True)
        (server_dir / OWNER_RECORD).write_text(f"{self.data_dir}\n", encoding="utf-8")
        _remove_orphans(data_root, keep=server_dir)

    @staticmethod
    def _adopt_existing_pgdata(existing: Path, target: Path, entry: pwd.struct_passwd) -> None:
        """A pgdata made in place (as a normal user, or by an older version) moves to the server directory."""
        if _postmaster_alive(existing):
            raise RuntimeError(f"a PostgreSQL server is running on {existing}; stop it first")
        shutil.move(existing, target)
        for directory, _, files in os.walk(target):
            os.chown(directory, entry.pw_uid, entry.pw_gid)
            for name in files:
                os.chown(os.path.join(directory, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)

    def _initdb(self) -> None:
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(parents=True)
        password_file = self.pgdata.parent / ".pwfile"
        password_file.unlink(missing_ok=True)
        password_file.touch(mode=0o600)
        password_file.write_text(self.password + "\n")
        if _as_root():
            entry = _server_user()
            for path in (self.pgdata, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        command = [str(_bin_dir() / "initdb"), "-D", str(self.pgdata), "-U", self.user,
                   f"--pwfile={password_file}", "--auth-local=trust", "--auth-host=scram-sha-256",
                   "--encoding=UTF8", "--locale=C"]
        try:
            self._run(command)
        finally:
            password_file.unlink(missing_ok=True)

    def _pg_ctl(self, args: list[str], check: bool = True) -> int:
        return self._run([str(_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), *args], check=check)

    def _run(self, command: list[str], check: bool = True) -> int:
        cwd = None
        if _as_root():
            command = ["runuser", "-u", _server_user().pw_name, "--", *command]
            cwd = "/"
        result = subprocess.run(command, check=False, capture_output=True, text=True, cwd=cwd,
                                timeout=START_TIMEOUT_S + 30)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(command[-3:])} failed "
                               f"(exit {result.returncode}): {result.stderr.strip() or result.stdout.strip()}")
        return result.returncode

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


def _as_root() -> bool:
    return os.geteuid() == 0


def _bin_dir() -> Path:
    return _server_install() if _as_root() else POSTGRES_BIN_PATH


@functools.cache
def _server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True, capture_output=True, text=True, timeout=30)
        return pwd.getpwnam(SYSTEM_USER)


@functools.cache
def _server_root() -> Path:
    """The root-owned directory (created here, 0755) holding the server's binaries and data directories."""
    root = Path(os.environ.get(SERVER_ROOT_ENV) or DEFAULT_SERVER_ROOT).absolute()
    hint = f"set {SERVER_ROOT_ENV} to a directory (or a path to create) whose parents every user may enter"
    for directory in (root, root / "data"):
        try:
            _make_dir(directory, 0o755)
        except FileNotFoundError as error:
            raise RuntimeError(f"cannot create {directory}: its parent does not exist; {hint}") from error
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
            raise RuntimeError(f"{directory} must be a directory owned by root and writable only by root; {hint}")
    entry = _server_user()
    blocked = [path for path in (root, *root.parents) if not _enterable(path, entry)]
    if blocked:
        raise RuntimeError(f"the PostgreSQL server runs as {entry.pw_name}, who cannot enter {blocked[-1]}; {hint} "
                           "(the permissions of existing directories are left as they are)")
    return root


@functools.cache
def _server_install() -> Path:
    """As root: the bin directory of a copy of the bundled PostgreSQL that the server user can read, made once.

    The binaries find their bundled libraries through an ``$ORIGIN``-relative RPATH
    (``site-packages/embedded_postgres.libs``), so the copy keeps that layout.
    """
    package = POSTGRES_BIN_PATH.parent.parent
    parts = [package / "pginstall", package.parent / f"{package.name}.libs"]
    digest = hashlib.sha256((POSTGRES_BIN_PATH / "postgres").read_bytes()).hexdigest()[:12]
    target = _server_root() / f"pginstall-{version('embedded-postgres')}-{digest}"
    bin_dir = target / package.name / "pginstall" / "bin"
    if not bin_dir.is_dir():
        staging = Path(tempfile.mkdtemp(prefix=".pginstall-", dir=target.parent))
        try:
            tree = staging / "tree"
            for part in (path for path in parts if path.is_dir()):
                shutil.copytree(part, tree / part.relative_to(package.parent), symlinks=True,
                                copy_function=_link_or_copy)
            for directory, _, _ in os.walk(tree):
                os.chmod(directory, 0o755)
            try:
                os.rename(tree, target)
            except OSError:
                if not bin_dir.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return bin_dir


def _link_or_copy(source: str, destination: str) -> str:
    """Hard-link a file others can already read; otherwise copy it and make the copy readable."""
    mode = os.stat(source).st_mode
    executable = bool(mode & stat.S_IXUSR)
    if mode & stat.S_IROTH and (not executable or mode & stat.S_IXOTH):
        try:
            os.link(source, destination)
            return destination
        except OSError:
            pass
    shutil.copy2(source, destination)
    os.chmod(destination, stat.S_IMODE(mode) | 0o444 | (0o111 if executable else 0))
    return destination


def _make_dir(path: Path, mode: int) -> None:
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        return
    os.chmod(path, mode)


def _enterable(path: Path, entry: pwd.struct_passwd) -> bool:
    info = os.stat(path)
    if info.st_uid == entry.pw_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid in os.getgrouplist(entry.pw_name, entry.pw_gid):
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def _postmaster_alive(pgdata: Path) -> bool:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return True


def _remove_orphans(data_root: Path, keep: Path) -> None:
    """Delete server directories whose ``data_dir`` no longer links to them (a removed test dir or clone).

    Each holds a whole cluster; without this, every temporary data_dir would leave one behind. Directories
    touched in the last ORPHAN_AGE_S seconds or with a live server are kept.
    """
    now = time.time()
    for server_dir in data_root.iterdir():
        if server_dir == keep or server_dir.is_symlink() or not server_dir.is_dir():
            continue
        record = server_dir / OWNER_RECORD
        try:
            stamp = (record if record.exists() else server_dir).stat().st_mtime
            owner = Path(record.read_text(encoding="utf-8").strip()) if record.exists() else None
        except OSError:
            continue
        if now - stamp < ORPHAN_AGE_S or _postmaster_alive(server_dir / "pgdata"):
            continue
        link = owner / "pgdata" if owner else None
        if link is not None and link.is_symlink() and Path(os.readlink(link)) == server_dir / "pgdata":
            continue
        shutil.rmtree(server_dir, ignore_errors=True)
