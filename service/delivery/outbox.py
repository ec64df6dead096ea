"""The push outbox: the evaluation pipeline writes deliveries in the same transaction as the tips.

A tip commits together with its deliveries or not at all, so a crash can neither leave a tip
that will never be pushed nor a push for a tip that does not exist.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.delivery.metrics import ENQUEUED
from service.delivery.models import PushDelivery
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
from service.tips.models import Tip

CHANNEL_OF_PLATFORM = {"android": "fcm", "ios": "apns", "web": "webpush"}


def configured_channels(settings: Settings) -> frozenset[str]:
    """Return the push channels whose credentials are configured."""
    channels = set()
    if settings.fcm_credentials_file:
        channels.add("fcm")
    if (
        settings.apns_key_file
        and settings.apns_key_id
        and settings.apns_team_id
        and settings.apns_topic
    ):
        channels.add("apns")
    if settings.vapid_private_key:
        channels.add("webpush")
    return frozenset(channels)


def enqueue(
    session: Session,
    tips: Sequence[Tip],
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
    if channels is None:
        channels = configured_channels(get_settings())
    if not tips or not channels:
        return 0
    patient_ids = {tip.patient_id for tip in tips}
    profiles = {
        profile.user_id: profile
        for profile in session.scalars(
            select(PatientProfile).where(PatientProfile.user_id.in_(patient_ids))
        )
    }
    devices: dict[int, list[Device]] = defaultdict(list)
    for device in session.scalars(
        select(Device).where(Device.patient_id.in_(patient_ids)).order_by(Device.id)
    ):
        if CHANNEL_OF_PLATFORM.get(device.platform) in channels:
            devices[device.patient_id].append(device)
    rows: list[dict[str, Any]] = []
    for tip in tips:
        if not devices[tip.patient_id]:
            continue
        profile = profiles.get(tip.patient_id)
        fallback = (
            quiet_hours.get(tip.patient_id) if isinstance(quiet_hours, Mapping) else quiet_hours
        )
        hours = effective_quiet_hours(profile, fallback)
        zone = zone_of(profile.timezone if profile is not None else None)
        not_before = push_not_before(hours, zone, now, urgent=tip.urgent)
        for device in devices[tip.patient_id]:
            rows.append(
                {
                    "tip_id": tip.id,
                    "device_id": device.id,
                    "channel": CHANNEL_OF_PLATFORM[device.platform],
                    "status": "pending",
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
