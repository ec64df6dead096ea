"""Benchmarks fail fast: a dead fake server or worker ends the run within seconds, non-zero.

A benchmark that starts servers registers them with a `Watchdog`; its thread checks every half
second that each is alive and, when one has died, says which on stderr, terminates the other
processes it watches and exits the whole benchmark with status 3 (from the thread, so it works
while the main thread is blocked on a socket or a pipe). A server the benchmark stops on purpose
is `forget`-ten first. `receive` bounds a wait on a pipe the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

EXIT_STATUS = 3
Watched = BaseProcess | subprocess.Popen[Any] | threading.Thread


def _alive(target: Watched) -> bool:
    if isinstance(target, subprocess.Popen):
        return target.poll() is None
    return target.is_alive()


class Watchdog:
    """Watch servers and worker processes; exit the benchmark when one dies unexpectedly."""

    def __init__(self, interval: float = 0.5) -> None:
        self._interval = interval
        self._watched: dict[str, Watched] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watchdog", daemon=True)

    def watch(self, name: str, target: Watched) -> Watched:
        """Watch `target` (already started) under `name`; return it."""
        with self._lock:
            self._watched[name] = target
        if not self._thread.is_alive():
            self._thread.start()
        return target

    def forget(self, name: str) -> None:
        """Stop watching `name` (before stopping it on purpose)."""
        with self._lock:
            self._watched.pop(name, None)

    def stop(self) -> None:
        """Stop watching everything."""
        self._stopped.set()

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            with self._lock:
                dead = [name for name, target in self._watched.items() if not _alive(target)]
                others = [t for n, t in self._watched.items() if n not in dead]
            if dead:
                self._fail(f"{', '.join(dead)} died", others)

    def _fail(self, reason: str, others: list[Watched]) -> None:
        print(f"benchmark aborted: {reason}", file=sys.stderr, flush=True)
        for target in others:
            if isinstance(target, subprocess.Popen | BaseProcess) and _alive(target):
                target.terminate()
        os._exit(EXIT_STATUS)


def receive(pipe: Connection, timeout: float, what: str) -> Any:
    """Receive from `pipe`, or exit the benchmark non-zero after `timeout` seconds."""
    if not pipe.poll(timeout):
        print(f"benchmark aborted: no {what} within {timeout:g} s", file=sys.stderr, flush=True)
        sys.exit(EXIT_STATUS)
    return pipe.recv()
