"""`make test`'s two pytest runs at once: the suite on SQLite and, with TEST_DATABASE_URL set, the
database-backed tests (`-m db`) on PostgreSQL, joined by those that start a PostgreSQL server of
their own (`-m pgserver`), which then leave the SQLite run.

Run one after the other they took 16 of CI's 20 minutes; each is mostly one Python process
waiting on its database, its servers and subprocesses, so on two cores they overlap well. They
share nothing: the SQLite file is under each run's own pytest temporary directory, the
PostgreSQL run creates (and drops) a database named for its process, private PostgreSQL
servers, gunicorn and the fakes bind free ports, and the browser tests write their artifacts to
a folder per backend. Each run's output goes to `test-artifacts/pytest-<backend>.log`, printed
whole when that run ends; the exit status fails if either run fails.

Usage: `python -m tests.suites [pytest arguments for both runs]` (Ctrl-C stops both).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "test-artifacts"


@dataclass
class Run:
    """One pytest process and the log it writes."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    started: float = 0.0
    took: float = 0.0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start pytest with its output going to the log."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.started = time.monotonic()


def planned(extra: list[str], environ: dict[str, str]) -> list[Run]:
    """The runs `make test` makes: SQLite always; PostgreSQL when TEST_DATABASE_URL is set.

    Tests marked `pgserver` start a PostgreSQL server of their own whatever the backend (the
    soak, the database outage), so with a PostgreSQL run they go in it rather than in the
    SQLite one, which also evens the two runs out (the soak alone takes two minutes).
    """
    pytest = [sys.executable, "-m", "pytest"]
    with_postgresql = bool(environ.get("TEST_DATABASE_URL"))
    runs = [
        Run(
            "sqlite",
            [*pytest, *(["-m", "not pgserver"] if with_postgresql else []), *extra],
            {**environ, "BACKSTRIDE_TEST_BACKEND": "sqlite"},
            LOGS / "pytest-sqlite.log",
        )
    ]
    if with_postgresql:
        runs.append(
            Run(
                "postgresql",
                [*pytest, "-m", "db or pgserver", *extra],
                {**environ, "BACKSTRIDE_TEST_BACKEND": "postgresql"},
                LOGS / "pytest-postgresql.log",
            )
        )
    return runs


def _forward_term(runs: list[Run]) -> None:
    """On SIGTERM (a CI timeout), stop the runs as Ctrl-C would, so their fixtures clean up."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        for run in runs:
            if run.process is not None and run.process.poll() is None:
                run.process.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, handler)


def main(extra: list[str]) -> int:
    """Start the runs, print each log as its run ends, and return 0 only if every run passed."""
    runs = planned(extra, dict(os.environ))
    _forward_term(runs)
    for run in runs:
        print(f"== pytest on {run.name}: {' '.join(run.argv[1:])} > {run.log}", flush=True)
        run.start()
    pending = list(runs)
    while pending:
        try:
            for run in list(pending):
                assert run.process is not None
                if run.process.poll() is None:
                    continue
                run.took = time.monotonic() - run.started
                pending.remove(run)
                print(f"\n== pytest on {run.name} (exit {run.process.returncode})", flush=True)
                sys.stdout.buffer.write(run.log.read_bytes())
                sys.stdout.flush()
            time.sleep(0.2)
        except KeyboardInterrupt:  # the terminal sent SIGINT to the runs too; let them finish
            continue
    failed = [run for run in runs if run.process is not None and run.process.returncode != 0]
    for run in runs:
        assert run.process is not None
        status = "passed" if run.process.returncode == 0 else f"FAILED ({run.process.returncode})"
        print(f"== {run.name}: {status} in {run.took:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
