"""Revisions that move data, run on data: a database at the revision before, then upgraded."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from service import migrate
from service.db import UTCDateTime

AT = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
STAMP = UTCDateTime(timezone=True)
USERS = sa.table(
    "users",
    sa.column("id"),
    sa.column("email"),
    sa.column("password_hash"),
    sa.column("role"),
    sa.column("token_version"),
    sa.column("created_at", STAMP),
)
PROFILES = sa.table(
    "patient_profiles",
    sa.column("user_id"),
    sa.column("timezone"),
    sa.column("locale"),
    sa.column("conditions", sa.JSON),
    sa.column("extra", sa.JSON),
    sa.column("enrolled_at", STAMP),
)
DAYS = sa.table(
    "daily_activity",
    sa.column("patient_id"),
    sa.column("date"),
    sa.column("source"),
    sa.column("steps"),
    sa.column("updated_at", STAMP),
)


def test_the_last_upload_is_filled_from_the_newest_day_the_phone_sent(empty_db_url: str) -> None:
    migrate.upgrade(empty_db_url, "0013_h12_baseline")
    engine = sa.create_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                USERS.insert(),
                [
                    {"id": pid, "email": f"p{pid}@example.org", "password_hash": "x"}
                    | {"role": "patient", "token_version": 0, "created_at": AT}
                    for pid in (1, 2, 3)
                ],
            )
            conn.execute(
                PROFILES.insert(),
                [
                    {"user_id": pid, "timezone": "Europe/London", "locale": "en"}
                    | {"conditions": [], "extra": {}, "enrolled_at": AT}
                    for pid in (1, 2, 3)
                ],
            )
            day = dt.date(2026, 11, 29)
            conn.execute(
                DAYS.insert(),
                [
                    # Patient 1: two phone days and a later wearable one, which does not count.
                    {"patient_id": 1, "date": day, "source": "healthkit", "steps": 10}
                    | {"updated_at": AT - dt.timedelta(hours=5)},
                    {"patient_id": 1, "date": day, "source": "manual", "steps": 10}
                    | {"updated_at": AT - dt.timedelta(hours=2)},
                    {"patient_id": 1, "date": day, "source": "oura", "steps": 10}
                    | {"updated_at": AT},
                    # Patient 2: only a wearable. Patient 3: nothing.
                    {"patient_id": 2, "date": day, "source": "oura", "steps": 10}
                    | {"updated_at": AT},
                ],
            )

        migrate.upgrade(empty_db_url, "0014_h10_last_upload")

        uploads = sa.table(
            "patient_profiles", sa.column("user_id"), sa.column("last_upload_at", STAMP)
        )
        with engine.connect() as conn:
            query = sa.select(uploads.c.user_id, uploads.c.last_upload_at)
            filled = dict(conn.execute(query).all())
        assert filled == {1: AT - dt.timedelta(hours=2), 2: None, 3: None}
    finally:
        engine.dispose()
