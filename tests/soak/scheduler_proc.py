"""A soak scheduler process: `python -m tests.soak.scheduler_proc --tick-scale 0.1`.

The production scheduler (`service.scheduler.build_scheduler`, APScheduler, the same job
functions and run_job wrapper) with shorter ticks so minutes of soak see many of them, a
delivery and pending-evaluation lease short enough that a killed process's work is taken
over within the run, and
evaluation in marked batches: it prints `batch begin` and `batch end N` so the soak can
SIGKILL it between the two, mid-batch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys

from service import create_app
from service.config import load_settings
from service.delivery import worker
from service.evaluation import pending, population
from service.scheduler import JOBS, Job, build_scheduler

BATCH = 50
SOAK_JOBS = {
    "sync_connections",
    "evaluate_due",
    "evaluate_pending",
    "deliver_outbox",
    "refresh_tokens",
}


def evaluate_in_marked_batches() -> str | None:
    """Evaluate everything due, one small batch at a time, saying when each starts and ends."""
    evaluated = 0
    while True:
        print("batch begin", flush=True)
        result = population.evaluate_due(batch_size=BATCH, max_batches=1)
        print(f"batch end {result.evaluated}", flush=True)
        evaluated += result.evaluated
        if result.batches == 0:
            return f"evaluated {evaluated} patients" if evaluated else None


def main() -> None:
    """Run the scheduler with scaled ticks until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tick-scale", type=float, default=0.1)
    parser.add_argument("--lease-seconds", type=float, default=20.0)
    args = parser.parse_args()
    lease = dt.timedelta(seconds=args.lease_seconds)
    # A killed process's marked patients wait out the lease; minutes of soak cannot wait five.
    pending.LEASE = lease
    runs = {
        "evaluate_due": evaluate_in_marked_batches,
        "deliver_outbox": lambda: f"delivered {worker.deliver_due(lease=lease)} pushes",
    }
    jobs = [
        Job(
            job.id,
            runs.get(job.id, job.run),
            max(1, round(job.every_s * args.tick_scale)),
            min(job.first_after_s, 1.0),
        )
        for job in JOBS
        if job.id in SOAK_JOBS
    ]
    app = create_app(load_settings())
    print("scheduler ready", flush=True)
    sys.stdout.flush()
    scheduler = build_scheduler(app, blocking=True, jobs=jobs)
    # Short ticks overlap long runs by design here; APScheduler would warn at every skip.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    scheduler.start()


if __name__ == "__main__":
    main()
