"""A private, throwaway PostgreSQL server for tests and the soak that stop and restart it.

The machine's shared PostgreSQL (127.0.0.1:5432) serves every engineer's tests and is never
stopped, so whatever needs to lose its database for real runs its own server: `initdb` into a
temporary directory, `pg_ctl start` on a free loopback port (its Unix socket inside that
directory), and `stop()` / `start()` / `restart()` with `pg_ctl`, which is what `pg_ctlcluster`
does for a packaged cluster in production. `close()` stops the server and deletes everything.

As root (CI, these machines) the server runs as the `postgres` OS user, which PostgreSQL
demands; otherwise as the current user. The binaries are found under /usr/lib/postgresql/*/bin
(the newest version), or in the directory named by PG_BIN.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy import create_engine, text

BIN_GLOB = "/usr/lib/postgresql/*/bin"
# A throwaway server: durability against an OS crash buys nothing, and the machine's two cores
# are shared, so skip the fsyncs. A restart still shuts down cleanly (fast mode) and loses nothing.
SETTINGS = (
    "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
    "-c max_connections=200 -c shared_buffers=128MB"
)


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bin_dir() -> Path | None:
    """The directory of initdb and pg_ctl (PG_BIN, else the newest under /usr/lib/postgresql)."""
    given = os.environ.get("PG_BIN")
    if given:
        return Path(given) if (Path(given) / "pg_ctl").exists() else None
    found = sorted(
        (p for p in Path("/").glob(BIN_GLOB.lstrip("/")) if (p / "pg_ctl").exists()),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.name.split(".")],
    )
    return found[-1] if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivatePostgres:
    """One private PostgreSQL server: init, start, stop, restart, close."""

    def __init__(
        self, bin_dir: Path | None = None, port: int | None = None, settings: str = SETTINGS
    ) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise PostgresUnavailableError(
                "no PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/*/bin "
                "and no PG_BIN: install them with `apt-get install -y postgresql`"
            )
        self.bin_dir = found
        self.settings = settings  # server options (-c ...); benchmarks keep the durable defaults
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="backstride-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._user = "postgres" if os.geteuid() == 0 else None
        if self._user:
            owner = pwd.getpwnam(self._user)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")

    @property
    def server_url(self) -> str:
        """URL of the maintenance database (TCP on loopback)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """URL of one database on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> str:
        argv = [str(self.bin_dir / tool), *args]
        if self._user:
            argv = ["runuser", "-u", self._user, "--", *argv]
        done = subprocess.run(
            argv, cwd=self.root, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")
        return done.stdout

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 {self.settings}"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: disconnect every client, roll back, shut down cleanly)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """Stop fast and start again, as `pg_ctlcluster VERSION main restart` does."""
        self.stop()
        self.start()

    def running(self) -> bool:
        """Whether the server process is up."""
        argv = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"]
        if self._user:
            argv = ["runuser", "-u", self._user, "--", *argv]
        return subprocess.run(argv, capture_output=True, check=False).returncode == 0

    def create_database(self, name: str) -> str:
        """Create a database and return its URL."""
        engine = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def close(self) -> None:
        """Stop the server (immediately, if it is up) and delete its files."""
        try:
            if self.data.exists() and self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
