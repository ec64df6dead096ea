"""The push outbox: deliveries are written in the same transaction as the tips.

A tip commits together with its deliveries or not at all, so a crash can neither leave a tip
that will never be pushed nor a push for a tip that does not exist. The outbox alone decides
who gets a push: which devices (on the configured channels) and when (the quiet-hours policy,
`service.delivery.policy`); the evaluation only says which evaluations wrote tips.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from service.channels import CHANNEL_OF_PLATFORM, configured_channels
from service.delivery.metrics import ENQUEUED
from service.delivery.models import DeliveryStatus, PushDelivery
from service.delivery.policy import (
    QuietHours,
    effective_quiet_hours,
    format_quiet_hours,
    push_not_before,
    tip_expiry,
    zone_of,
)
from service.extensions import get_settings
from service.patients.models import Device, PatientProfile
from service.sqlutil import chunks
from service.tips.models import Tip


class Pushable(Protocol):
    """What the outbox needs of a tip: a Tip row, or the evaluation's own record of one."""

    @property
    def id(self) -> int: ...
    @property
    def patient_id(self) -> int: ...
    @property
    def urgent(self) -> bool: ...


class _TipRef(NamedTuple):
    id: int
    patient_id: int
    urgent: bool


def enqueue_evaluations(
    session: Session,
    evaluations: Mapping[int, int],
    now: dt.datetime,
    *,
    quiet_hours: Mapping[int, QuietHours | None],
    channels: Collection[str] | None = None,
) -> int:
    """Queue pushes for the tips these evaluations wrote (patient id -> evaluation id).

    Only the tips of patients with a device on a configured channel are read back (by their
    evaluation id), so a batch of patients without phones costs one query.
    """
    channels = configured_channels(get_settings()) if channels is None else channels
    if not evaluations or not channels:
        return 0
    devices = _devices(session, evaluations.keys(), channels)
    if not devices:
        return 0
    wanted = [evaluations[pid] for pid in sorted(devices)]
    tips = [
        _TipRef(*row)
        for part in chunks(session, wanted)
        for row in session.execute(
            select(Tip.id, Tip.patient_id, Tip.urgent)
            .where(Tip.evaluation_id.in_(part))
            .order_by(Tip.id)
        )
    ]
    return _write(session, tips, devices, now, quiet_hours)


def enqueue(
    session: Session,
    tips: Sequence[Pushable],
    now: dt.datetime,
    *,
    quiet_hours: QuietHours | Mapping[int, QuietHours | None] | None = None,
    channels: Collection[str] | None = None,
) -> int:
    """Write one pending delivery per (tip, registered device); return how many.

    quiet_hours is the rule set's setting, used for patients without their own: one value for
    every tip, or a mapping patient id -> value when a batch spans rule sets. channels defaults
    to those configured in the app's settings (none: the inbox alone serves).
    """
    channels = configured_channels(get_settings()) if channels is None else channels
    if not tips or not channels:
        return 0
    devices = _devices(session, {tip.patient_id for tip in tips}, channels)
    if not isinstance(quiet_hours, Mapping):
        quiet_hours = dict.fromkeys(devices, quiet_hours)
    return _write(session, tips, devices, now, quiet_hours)


def _devices(
    session: Session, patient_ids: Iterable[int], channels: Collection[str]
) -> dict[int, list[tuple[int, str]]]:
    """Patient id -> their devices (id, channel) on the configured channels, oldest first."""
    devices: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for part in chunks(session, sorted(set(patient_ids))):
        rows = session.execute(
            select(Device.patient_id, Device.id, Device.platform)
            .where(Device.patient_id.in_(part))
            .order_by(Device.id)
        )
        for pid, device_id, platform in rows:
            channel = CHANNEL_OF_PLATFORM.get(platform)
            if channel is not None and channel in channels:
                devices[pid].append((device_id, channel))
    return devices


def _write(
    session: Session,
    tips: Sequence[Pushable],
    devices: Mapping[int, list[tuple[int, str]]],
    now: dt.datetime,
    fallback: Mapping[int, QuietHours | None],
) -> int:
    """The quiet-hours policy, in one place: when each push may go, and the rows for it."""
    if not devices:
        return 0
    profiles = {
        profile.user_id: profile
        for profile in session.scalars(
            select(PatientProfile).where(PatientProfile.user_id.in_(sorted(devices)))
        )
    }
    rows: list[dict[str, Any]] = []
    for tip in tips:
        if not devices.get(tip.patient_id):
            continue
        profile = profiles.get(tip.patient_id)
        hours = effective_quiet_hours(profile, fallback.get(tip.patient_id))
        zone = zone_of(profile.timezone if profile is not None else None)
        not_before = push_not_before(hours, zone, now, urgent=tip.urgent)
        for device_id, channel in devices[tip.patient_id]:
            rows.append(
                {
                    "tip_id": tip.id,
                    "device_id": device_id,
                    "channel": channel,
                    "status": DeliveryStatus.PENDING,
                    "attempts": 0,
                    "next_attempt_at": not_before,
                    "quiet_hours": None if tip.urgent else format_quiet_hours(hours),
                    "expires_at": tip_expiry(now, urgent=tip.urgent),
                    "created_at": now,
                }
            )
    if rows:
        # One multi-row INSERT (executemany) instead of one ORM object per row.
        session.execute(insert(PushDelivery), rows)
        # Counted before the caller commits: a rolled-back evaluation over-counts, which is
        # rare and harmless for a rate; the queue-depth gauge reads the table itself.
        for row in rows:
            ENQUEUED.labels(row["channel"]).inc()
    return len(rows)
