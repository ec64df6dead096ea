"""Scheduled jobs (APScheduler): sync, evaluate, deliver, refresh, renew, purge, FHIR exports,
proximal outcomes.

Each job is thin: enter the app context, call one use case, log the outcome, drop the session.
Every use case is safe with several scheduler processes at once (row claims), so running
`flask --app wsgi scheduler` twice, or beside `make run`, double-does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask, current_app
from prometheus_client import Counter
from sqlalchemy.exc import DBAPIError

from service.connections import subscriptions, sync
from service.db import utcnow
from service.delivery import worker as delivery_worker
from service.errors import DATABASE_ERRORS, connection_error_text, is_connection_loss
from service.evaluation import pending, population
from service.extensions import db
from service.fhir import worker as fhir_worker
from service.idempotency import service as idempotency
from service.outcomes import proximal

log = logging.getLogger("service.scheduler")

JOB_FAILURES = Counter(
    "backstride_job_failures_total",
    "Scheduled job runs that raised, by job and kind (database_unavailable or error)",
    ["job", "kind"],
)


@dataclass(frozen=True)
class Job:
    """A scheduled job: explicit id, interval, delay before the first run."""

    id: str
    run: Callable[[], str | None]  # what happened, or None when there was nothing to do
    every_s: int
    first_after_s: float


def sync_connections() -> str | None:
    """Pull new data from wearables whose next sync time has passed."""
    synced = sync.sync_due_connections()
    return f"synced {synced} connections" if synced else None


def refresh_tokens() -> str | None:
    """Refresh OAuth tokens that expire soon."""
    refreshed = sync.refresh_expiring_tokens()
    return f"refreshed {refreshed} tokens" if refreshed else None


def renew_subscriptions() -> str | None:
    """Renew provider webhook subscriptions before they expire."""
    renewed = subscriptions.renew_due(utcnow())
    return f"renewed {renewed} subscriptions" if renewed else None


def evaluate_due() -> str | None:
    """Evaluate patients whose local decision time has passed."""
    result = population.evaluate_due()
    if not (result.evaluated or result.duplicates):
        return None
    return (
        f"evaluated {result.evaluated} patients, tips created: {result.tips}, "
        f"alerts: {result.alerts}, already done: {result.duplicates}, failed: {result.failed}"
    )


def evaluate_pending() -> str | None:
    """Evaluate patients whose new activity data marked them (trigger `activity`)."""
    result = pending.run_pending()
    if not result.evaluated:
        return None
    return (
        f"evaluated {result.evaluated} patients after new activity, "
        f"tips created: {result.tips}, failed: {result.failed}"
    )


def deliver_outbox() -> str | None:
    """Send pending pushes."""
    delivered = delivery_worker.deliver_due()
    return f"delivered {delivered} pushes" if delivered else None


def purge_old_data() -> str | None:
    """Delete evaluation records past their retention, and expired idempotency keys."""
    now = utcnow()
    purged = population.purge_old_evaluations(now)
    with db.transaction() as session:
        keys = idempotency.purge_expired(session, now)
    if not (purged or keys):
        return None
    return f"purged {purged} old evaluations, {keys} expired idempotency keys"


def run_fhir_exports() -> str | None:
    """Run queued FHIR bulk exports (and ones whose worker died); delete expired ones."""
    ran = fhir_worker.run_due()
    purged = fhir_worker.purge_expired()
    if not (ran or purged):
        return None
    return f"ran {ran} FHIR exports, deleted {purged} expired"


def proximal_outcomes() -> str | None:
    """Fill in the steps that followed randomised decisions whose window has closed."""
    done = proximal.run_due(utcnow())
    return f"computed the outcomes of {done} decisions" if done else None


JOBS = (
    Job("sync_connections", sync_connections, 60, 2),
    Job("evaluate_due", evaluate_due, 30, 12),
    Job("evaluate_pending", evaluate_pending, 20, 8),
    Job("deliver_outbox", deliver_outbox, 10, 20),
    Job("refresh_tokens", refresh_tokens, 300, 30),
    Job("renew_subscriptions", renew_subscriptions, 3600, 40),
    Job("purge_old_data", purge_old_data, 86400, 600),
    Job("fhir_exports", run_fhir_exports, 30, 15),
    Job("proximal_outcomes", proximal_outcomes, 900, 120),
)


def run_job(app: Flask, job: Job) -> str | None:
    """Run one job in an app context; log (never raise) its outcome."""
    with app.app_context():
        try:
            outcome = job.run()
        except DBAPIError as exc:
            if not is_connection_loss(exc):
                JOB_FAILURES.labels(job.id, "error").inc()
                log.exception("job %s failed", job.id)
                return None
            # Every use case commits per batch (or per row), so the batch in flight rolled
            # back whole: the next tick claims it again and carries on where the last commit
            # left off. The pool replaces its dead connections then (the failure marked them
            # all suspect: service.db.Liveness pings them at their next checkout).
            JOB_FAILURES.labels(job.id, "database_unavailable").inc()
            DATABASE_ERRORS.labels(job.id).inc()
            log.warning(
                "job %s: database unavailable, resuming at the next tick (in %d s): %s",
                job.id,
                job.every_s,
                connection_error_text(exc),
            )
            return None
        except Exception:
            JOB_FAILURES.labels(job.id, "error").inc()
            log.exception("job %s failed", job.id)
            return None
        finally:
            db.remove()
        # Quiet ticks (nothing due) stay out of the log; work done is always reported.
        if outcome is None:
            log.debug("%s: nothing to do", job.id)
        else:
            log.info("%s: %s", job.id, outcome)
        return outcome


def build_scheduler(
    app: Flask,
    *,
    blocking: bool,
    now: dt.datetime | None = None,
    jobs: Sequence[Job] = JOBS,
) -> BaseScheduler:
    """A scheduler with every job (JOBS unless given, e.g. the soak's faster ticks) by its id."""
    # APScheduler logs every run of every job at INFO; our jobs report their own outcomes.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler: BaseScheduler = BlockingScheduler() if blocking else BackgroundScheduler()
    start = now or utcnow()
    for job in jobs:
        scheduler.add_job(
            run_job,
            "interval",
            args=(app, job),
            id=job.id,
            name=job.id,
            seconds=job.every_s,
            next_run_time=start + dt.timedelta(seconds=job.first_after_s),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(job.every_s, 30),
            # Spread the work of several scheduler processes a little.
            jitter=min(5, job.every_s // 10) or None,
        )
    return scheduler


def scheduler_command() -> None:
    """Run the scheduled jobs (sync, evaluate, deliver, refresh, renew, purge) until stopped."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    scheduler = build_scheduler(app, blocking=True)
    click.echo(f"scheduler running jobs: {', '.join(job.id for job in JOBS)}")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")
