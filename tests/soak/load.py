"""The soak's patients: threads that upload walks, report pain and read tips, as phones would.

Each client thread owns a slice of the patients (so one patient's requests never race each
other) and spreads its requests over every web instance. A write is retried as a phone would:
after a 503 (waiting its Retry-After, capped) or a dropped connection, with the same
Idempotency-Key (pain) or the same external id (walks), so a retry can never store twice.
Every attempt is logged with its time, instance, status and latency; every accepted write with
what identifies it, for the invariants.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

MAX_TRIES = 12
RETRY_WAIT_CAP_S = 1.0


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt: when, where, what, and how it ended (status 0: no answer)."""

    started: float
    latency: float
    instance: int
    kind: str
    status: int
    retry_after: bool
    error: str = ""


@dataclass
class LoadLog:
    """Everything the clients did."""

    attempts: list[Attempt] = field(default_factory=list)
    # accepted (patient, external id, when the answer came)
    walks: list[tuple[int, str, float]] = field(default_factory=list)
    reports: list[tuple[int, int]] = field(default_factory=list)  # accepted (patient, report id)
    abandoned_reports: dict[int, int] = field(default_factory=dict)  # patient -> given up
    abandoned_walks: int = 0
    tips_read: int = 0


class Load:
    """Client threads driving the web tier until stopped."""

    def __init__(
        self,
        urls: list[str],
        tokens: dict[int, str],
        clients: int,
        rate: float,
        seed: int = 7,
    ) -> None:
        self.urls = urls
        self.tokens = tokens
        self.log = LoadLog()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        patients = sorted(tokens)
        self._threads = [
            threading.Thread(
                target=self._client,
                args=(patients[i::clients], rate / clients, random.Random(seed + i)),
                daemon=True,
            )
            for i in range(clients)
        ]

    def start(self) -> None:
        """Start every client."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> LoadLog:
        """Stop the clients (each finishes its request in flight) and return the log."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        return self.log

    def _client(self, patients: list[int], rate: float, rng: random.Random) -> None:
        http = requests.Session()
        interval = 1.0 / rate
        next_at = time.monotonic() + rng.uniform(0, interval)
        counter = 0
        while not self._stop.is_set():
            pause = next_at - time.monotonic()
            if pause > 0 and self._stop.wait(pause):
                break
            next_at = max(next_at + interval, time.monotonic() - interval)
            patient = rng.choice(patients)
            counter += 1
            roll = rng.random()
            if roll < 0.35:
                self._walk(http, rng, patient, counter)
            elif roll < 0.6:
                self._pain(http, rng, patient)
            else:
                self._tips(http, rng, patient)

    def _request(
        self,
        http: requests.Session,
        rng: random.Random,
        kind: str,
        method: str,
        path: str,
        patient: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response | None:
        """One logical request, retried after a 503 or a dropped connection; None: gave up."""
        for _ in range(MAX_TRIES):
            instance = rng.randrange(len(self.urls))
            started = time.time()
            clock = time.perf_counter()
            try:
                answer = http.request(
                    method,
                    self.urls[instance] + path,
                    json=body,
                    headers={"Authorization": f"Bearer {self.tokens[patient]}", **(headers or {})},
                    timeout=30,
                )
            except requests.RequestException as exc:
                self._note(
                    Attempt(
                        started,
                        time.perf_counter() - clock,
                        instance,
                        kind,
                        0,
                        False,
                        type(exc).__name__,
                    )
                )
                http.close()  # drop the pooled connection to a dead worker
                time.sleep(0.2)
                continue
            retry_after = answer.headers.get("Retry-After")
            self._note(
                Attempt(
                    started,
                    time.perf_counter() - clock,
                    instance,
                    kind,
                    answer.status_code,
                    retry_after is not None,
                )
            )
            if answer.status_code == 503:
                wait = float(retry_after) if retry_after and retry_after.isdigit() else 1.0
                time.sleep(min(wait, RETRY_WAIT_CAP_S))
                continue
            return answer
        return None

    def _note(self, attempt: Attempt) -> None:
        with self._lock:
            self.log.attempts.append(attempt)

    def _walk(self, http: requests.Session, rng: random.Random, patient: int, n: int) -> None:
        external = f"soak-{patient}-{n}-{uuid.uuid4().hex[:6]}"
        end = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=rng.randint(5, 300))
        minutes = rng.randint(10, 45)
        body = {
            "sessions": [
                {
                    "start": (end - dt.timedelta(minutes=minutes)).isoformat(),
                    "end": end.isoformat(),
                    "kind": "walking",
                    "steps": minutes * rng.randint(80, 110),
                    "source": "healthkit",
                    "external_id": external,
                }
            ]
        }
        answer = self._request(http, rng, "walk", "POST", "/v1/me/activity/sessions", patient, body)
        with self._lock:
            if answer is not None and answer.ok:
                self.log.walks.append((patient, external, time.time()))
            elif answer is None:
                self.log.abandoned_walks += 1

    def _pain(self, http: requests.Session, rng: random.Random, patient: int) -> None:
        body = {"score": rng.randint(1, 5), "recorded_at": dt.datetime.now(dt.UTC).isoformat()}
        key = uuid.uuid4().hex
        answer = self._request(
            http, rng, "pain", "POST", "/v1/me/pain", patient, body, {"Idempotency-Key": key}
        )
        with self._lock:
            if answer is not None and answer.ok:
                self.log.reports.append((patient, int(answer.json()["id"])))
            elif answer is None:
                self.log.abandoned_reports[patient] = self.log.abandoned_reports.get(patient, 0) + 1

    def _tips(self, http: requests.Session, rng: random.Random, patient: int) -> None:
        answer = self._request(http, rng, "tips", "GET", "/v1/me/tips", patient)
        if answer is not None and answer.ok:
            with self._lock:
                self.log.tips_read += 1
