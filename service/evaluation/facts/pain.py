"""Pain facts (`pain.*`, red flags): the reports of the window and before the latest one.

Reports are fetched in bulk for the last 16 days: enough for the 7-day window, the 72 h
red-flag window and the 168 h before a latest report that is itself inside the window.
Patients whose latest report is older, or whose latest report's 168 h reach further back, get
their own bounds, in buckets of close latest reports (one range query each).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from service.evaluation.derive import WEEK, LoadedPatient
from service.reports.models import PainReport
from service.sqlutil import CHUNK, among, chunks, json_list, rows

PAIN_FETCH = dt.timedelta(days=16)
BUCKET = dt.timedelta(days=31)
_FLAGS = cast(PainReport.red_flags, Text)
_COLUMNS = (PainReport.patient_id, PainReport.recorded_at, PainReport.score, _FLAGS)
_ORDER = (PainReport.patient_id, PainReport.recorded_at, PainReport.id)


def load(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    """Fill each patient's pain reports (time, score, red flags) the pain facts need."""
    lo = now - PAIN_FETCH
    for chunk in chunks(session, ids):
        found = rows(
            session,
            select(*_COLUMNS)
            .where(
                among(session, PainReport.patient_id, chunk),
                PainReport.recorded_at.between(lo, now),
            )
            .order_by(*_ORDER),
        )
        for pid, at, score, flags in found:
            patients[pid].pain.append((at, score, json_list(flags)))
    # Patients whose latest report is older than the bulk window, or whose latest report's
    # preceding 168 h reach before it, get their own bounds in one OR-ed query per chunk.
    stale = [pid for pid in ids if not patients[pid].pain]
    latest: dict[int, dt.datetime] = {}
    for chunk in chunks(session, stale):
        maxima = rows(
            session,
            select(PainReport.patient_id, func.max(PainReport.recorded_at))
            .where(among(session, PainReport.patient_id, chunk), PainReport.recorded_at <= now)
            .group_by(PainReport.patient_id),
        )
        latest.update((pid, at) for pid, at in maxima)
    for pid in ids:
        reports = patients[pid].pain
        if reports and reports[-1][0] - WEEK < lo:
            latest[pid] = reports[-1][0]
    # Sorted by latest report, in buckets spanning at most a month, so each bucket is one
    # range query that cannot reach back years for everybody.
    bounds = sorted(latest.items(), key=lambda item: item[1])
    bucket: list[tuple[int, dt.datetime]] = []
    for item in bounds:
        if bucket and (item[1] - bucket[0][1] > BUCKET or len(bucket) >= CHUNK):
            _load_older(session, patients, bucket, lo)
            bucket = []
        bucket.append(item)
    if bucket:
        _load_older(session, patients, bucket, lo)


def _load_older(
    session: Session,
    patients: dict[int, LoadedPatient],
    bucket: list[tuple[int, dt.datetime]],
    bulk_lo: dt.datetime,
) -> None:
    """Reports in [latest - 168 h, latest] for a bucket of patients with close latest reports."""
    wanted = dict(bucket)
    first = min(wanted.values()) - WEEK
    last = max(wanted.values())
    found_rows = rows(
        session,
        select(*_COLUMNS)
        .where(
            among(session, PainReport.patient_id, list(wanted)),
            PainReport.recorded_at.between(first, last),
        )
        .order_by(*_ORDER),
    )
    found: dict[int, list[tuple[dt.datetime, int, Any]]] = defaultdict(list)
    for pid, at, score, flags in found_rows:
        if wanted[pid] - WEEK <= at <= wanted[pid]:
            found[pid].append((at, score, json_list(flags)))
    for pid, older in found.items():
        # Rows at or after the bulk window's start came with the bulk query already.
        bulk = patients[pid].pain
        patients[pid].pain = [row for row in older if not bulk or row[0] < bulk_lo] + bulk
