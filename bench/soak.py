"""Chaos soak: 3 gunicorn instances, 3 scheduler processes, fake providers and push services
with their faults on, a few thousand patients busy for several minutes, processes killed and
PostgreSQL restarted under them; then the invariants (tests/soak/invariants.py).

Runs its own private PostgreSQL server (initdb + pg_ctl in a temporary directory, as the
postgres user when root) and restarts THAT one; the shared server on 5432 is never touched.
In production the same restart is `pg_ctlcluster 15 main restart`.

Usage: python bench/soak.py [--minutes 5] [--patients 3000] [--rate 40] [--keep]
Ends with: RESULT violations=0 ... (every violation count must be 0; exit status 1 otherwise)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.soak.run import SoakConfig, run


def main() -> None:
    """Run the soak and print its RESULT line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--patients", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second in all")
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=600,
        help="how long the schedulers may take to finish the work after the load (stops early)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    args = parser.parse_args()
    config = SoakConfig(
        seconds=args.minutes * 60,
        patients=args.patients,
        connections=args.connections,
        rate=args.rate,
        clients=args.clients,
        keep=args.keep,
        drain_s=args.drain_seconds,
    )
    result = run(config)
    print("events:")
    for event in result.events:
        print(f"  {event}")
    print("counts:")
    for name, value in result.counts.items():
        print(f"  {name}: {value}")
    for anomaly in result.anomalies:
        print(f"  violation example: {anomaly}")
    print(f"logs: {result.workdir}" + ("" if args.keep else " (deleted)"))
    print("latency (ms):")
    for phase, text in result.latency.items():
        print(f"  {phase}: {text}")
    bad = {k: v for k, v in result.violations.items() if v}
    figures = " ".join(
        f"{k}={result.counts.get(k)}"
        for k in (
            "web_requests",
            "uploads_accepted",
            "reports_accepted",
            "evaluations_run",
            "pushes_accepted",
            "refreshes",
            "web_503_retryable",
            "web_recovery_s",
            "scheduler_killed_mid_batch",
        )
    )
    latencies = " ".join(
        f"{phase}_{part.replace('=', '_ms=', 1) if part.startswith('p') else part}"
        for phase, text in result.latency.items()
        for part in text.split()
    )
    print(f"RESULT violations={sum(bad.values())} {figures} {latencies}")
    if bad:
        print(f"violations: {bad}")
        sys.exit(1)


if __name__ == "__main__":
    main()
