"""Prometheus metrics of push delivery: outcomes, attempt latency and the outbox depth."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from service.db import utcnow
from service.delivery.models import DeliveryStatus, PushDelivery
from service.extensions import db

ENQUEUED = Counter("backstride_push_enqueued_total", "Push deliveries written", ["channel"])
DELIVERIES = Counter(
    "backstride_push_deliveries_total",
    "Push send attempts by outcome (sent, retry, dead, failed, expired)",
    ["channel", "status"],
)
ATTEMPT_SECONDS = Histogram(
    "backstride_push_attempt_seconds",
    "Time of one push send, provider round trip included",
    ["channel"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class OutboxCollector(Collector):
    """Read the pending count at scrape time, so every process (web or worker) reports it."""

    def collect(self) -> Iterator[Metric]:
        """Yield the queue depth per channel and the age of the oldest due delivery."""
        depth = GaugeMetricFamily(
            "backstride_push_queue_depth", "Pending push deliveries", labels=["channel"]
        )
        oldest = GaugeMetricFamily(
            "backstride_push_oldest_due_seconds",
            "How long the oldest due delivery has been waiting",
        )
        now = utcnow()
        pending = PushDelivery.status == DeliveryStatus.PENDING
        try:
            with db.engine.connect() as conn:
                counts = conn.execute(
                    select(PushDelivery.channel, func.count())
                    .where(pending)
                    .group_by(PushDelivery.channel)
                ).all()
                first_due = conn.execute(
                    select(func.min(PushDelivery.next_attempt_at)).where(
                        pending, PushDelivery.next_attempt_at <= now
                    )
                ).scalar_one()
        except (SQLAlchemyError, RuntimeError):
            return  # no database bound yet, or it is down: /readyz says so, not /metrics
        for channel, count in counts:
            depth.add_metric([channel], count)
        yield depth
        oldest.add_metric([], (now - first_due).total_seconds() if first_due else 0.0)
        yield oldest


REGISTRY.register(OutboxCollector())
