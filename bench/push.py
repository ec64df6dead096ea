"""Benchmark: FcmSender (pooled keep-alive session, cached OAuth token) against a naive sender.

The naive sender opens a new connection and fetches a new OAuth token for every message, the
pattern the pooled sender exists to avoid. Both send through the same thread pool to the fake FCM
on loopback, which runs in its own process so the two do not share a GIL.
Usage: `python bench/push.py [N_POOLED] [N_NAIVE] [THREADS]`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jwt
import requests
from cryptography.hazmat.primitives import serialization

from bench._watchdog import Watchdog, receive
from integrations.push import FcmSender, Outcome, PushMessage, PushResult
from integrations.push.fcm import FCM_SCOPE, JWT_BEARER_GRANT, classify_fcm_response
from integrations.push.payload import fcm_body
from tests.fakes.fcm import FakeFcm, make_service_account


def serve_fake(public_pem: bytes, pipe: Connection) -> None:
    """Run the fake FCM in this (child) process until the parent asks for its counters."""
    public_key = serialization.load_pem_public_key(public_pem)
    with FakeFcm(public_key=public_key) as fake:
        fake.record = False
        pipe.send(fake.base_url)
        pipe.recv()  # wait for "stop"
        pipe.send((fake.send_requests, fake.token_requests))


class NaiveFcmSender:
    """A new connection and a new OAuth token for every message."""

    def __init__(self, credentials: dict[str, str], base_url: str) -> None:
        self.credentials = credentials
        # Parsed once, so the baseline pays for the per-message round trips, not PEM parsing.
        self.key = serialization.load_pem_private_key(credentials["private_key"].encode(), None)
        self.send_url = f"{base_url}/v1/projects/{credentials['project_id']}/messages:send"

    def send(self, message: PushMessage) -> PushResult:
        """Fetch a token, then send, each over a fresh connection."""
        now = int(time.time())
        claims = {
            "iss": self.credentials["client_email"],
            "scope": FCM_SCOPE,
            "aud": self.credentials["token_uri"],
            "iat": now,
            "exp": now + 3600,
        }
        assertion = jwt.encode(claims, self.key, algorithm="RS256")  # type: ignore[arg-type]
        token = requests.post(
            self.credentials["token_uri"],
            data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion},
            timeout=10,
        ).json()["access_token"]
        response = requests.post(
            self.send_url,
            data=fcm_body(message),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=10,
        )
        return classify_fcm_response(response.status_code, response.text)


def messages(count: int) -> list[PushMessage]:
    """Return count distinct tip notifications."""
    return [
        PushMessage(
            token=f"bench-device-{i:05d}",
            title="Time for a short walk",
            body="Ten easy minutes today keeps your back moving. Stand tall, swing your arms.",
            data={"tip_id": f"tip-{i}", "category": "progression", "rule_id": "r-7"},
            collapse_id=f"tip-{i}",
        )
        for i in range(count)
    ]


def run(sender: Any, batch: list[PushMessage], threads: int) -> tuple[float, int]:
    """Send batch through a thread pool; return (messages per second, number sent)."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(sender.send, batch))
    elapsed = time.perf_counter() - started
    sent = sum(1 for r in results if r.outcome is Outcome.SENT)
    return len(batch) / elapsed, sent


def main() -> None:
    """Run both senders against the fake and print the RESULT line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("pooled", type=int, nargs="?", default=5000, help="messages, pooled")
    parser.add_argument("naive", type=int, nargs="?", default=500, help="messages, naive")
    parser.add_argument("threads", type=int, nargs="?", default=16, help="sending threads")
    args = parser.parse_args()
    pooled_count, naive_count, threads = args.pooled, args.naive, args.threads

    credentials, public_key = make_service_account()
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=serve_fake, args=(public_pem, child), daemon=True
    )
    server.start()
    watchdog = Watchdog()
    watchdog.watch("the fake FCM server", server)
    try:
        base_url = receive(parent, 60, "URL from the fake FCM server")
        credentials["token_uri"] = f"{base_url}/token"

        pooled = FcmSender(credentials=credentials, base_url=base_url, pool_size=threads)
        run(pooled, messages(200), threads)  # warm up: token, connections, imports
        pooled_rate, pooled_sent = run(pooled, messages(pooled_count), threads)
        pooled.close()
        naive_rate, naive_sent = run(
            NaiveFcmSender(credentials, base_url), messages(naive_count), threads
        )
        watchdog.forget("the fake FCM server")
        parent.send("stop")
        send_requests, token_requests = receive(parent, 30, "counters from the fake FCM")
    finally:
        watchdog.stop()
        server.join(timeout=5)
        if server.is_alive():
            server.terminate()

    if pooled_sent != pooled_count or naive_sent != naive_count:
        raise SystemExit(
            f"lost messages: pooled {pooled_sent}/{pooled_count}, naive {naive_sent}/{naive_count}"
        )
    speedup = pooled_rate / naive_rate
    print(f"threads: {threads}; fake FCM in its own process on loopback")
    print(f"FcmSender (pooled, cached token): {pooled_count} msgs, {pooled_rate:,.0f} msgs/s")
    print(f"naive (new connection + token per msg): {naive_count} msgs, {naive_rate:,.0f} msgs/s")
    print(f"fake FCM saw {send_requests} sends and {token_requests} token requests")
    print(f"speedup: {speedup:.1f}x")
    print(
        f"RESULT fcm_msgs_per_s={pooled_rate:.0f} naive_msgs_per_s={naive_rate:.0f}"
        f" speedup={speedup:.2f}"
    )


if __name__ == "__main__":
    main()
