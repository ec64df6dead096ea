"""Run the app under real gunicorn, with the command line `flask serve` uses (no tests here).

`start_gunicorn` builds the environment a deployment would set (the test database, secrets,
BIND on a free loopback port), runs `service.cli.gunicorn_argv` from the repository root and
waits until /healthz answers; `stop()` shuts it down and returns everything it logged.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from service.cli import gunicorn_argv
from service.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Gunicorn:
    """A running gunicorn master and where its output goes."""

    url: str
    settings: Settings
    process: subprocess.Popen[bytes]
    log_file: Path

    def stop(self) -> str:
        """Stop gracefully (SIGTERM) and return the access and error log output."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.log_file.read_text()


def start_gunicorn(
    base: Settings,
    db_url: str,
    workdir: Path,
    env: Mapping[str, str] | None = None,
    extra_args: Sequence[str] = (),
) -> Gunicorn:
    """Serve the app with gunicorn on a free port; `extra_args` go before the app name."""
    port = free_port()
    environ = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SECRET_KEY": base.secret_key,
        "TOKEN_ENCRYPTION_KEY": ",".join(base.token_encryption_keys),
        "BACKSTRIDE_ENV": "testing",
        "LOG_LEVEL": "WARNING",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        **(env or {}),
    }
    settings = load_settings(environ)
    argv = gunicorn_argv(settings, workdir / "instance")
    argv = [*argv[:-1], *extra_args, argv[-1]]
    (workdir / "instance").mkdir(parents=True, exist_ok=True)
    log_file = workdir / f"gunicorn-{port}.log"
    with log_file.open("wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=environ, stdout=out, stderr=out)
    server = Gunicorn(f"http://127.0.0.1:{port}", settings, process, log_file)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {server.stop()}")
        try:
            if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except requests.RequestException:  # not listening yet, or workers still booting
            pass
        time.sleep(0.1)
    output = server.stop()
    raise RuntimeError(f"gunicorn did not answer within 60 s: {output}")
