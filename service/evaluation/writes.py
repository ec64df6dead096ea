"""Bulk updates of the evaluation pipeline: plans, and rule state merged as JSON maps.

Rows are inserted through `service.bulk` (COPY on PostgreSQL). Rule state is an upsert that
merges JSON maps, one row per patient, sent as ONE JSON document on PostgreSQL (`INSERT ...
SELECT FROM jsonb_each(doc) ON CONFLICT`); SQLite gets plain executemany (one prepared
statement).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from service.bulk import dumps
from service.plans.models import Plan
from service.sqlutil import chunks, is_postgresql


def update_plans(
    session: Session, changes: Sequence[tuple[int, int | None, int | None]], now: dt.datetime
) -> set[int]:
    """Apply (patient id, new target or None, hold days or None) to existing plans at `now`.

    A new target sets `changed_at`; a hold extends `progression_held_until` to at least `now`
    plus the days (never shortens it). Return the patients that had a plan (others are left
    for the caller). PostgreSQL: ONE statement over array parameters, the hold computed in SQL
    on the row it updates.
    """
    if is_postgresql(session):
        pids, targets, holds = (list(column) for column in zip(*changes, strict=True))
        updated = session.execute(
            text(
                "UPDATE plans SET daily_target = COALESCE(c.target, plans.daily_target), "
                "changed_at = CASE WHEN c.target IS NULL THEN plans.changed_at ELSE :now END, "
                "progression_held_until = CASE WHEN c.hold IS NULL "
                "THEN plans.progression_held_until ELSE GREATEST(plans.progression_held_until, "
                "CAST(:now AS timestamptz) + c.hold * interval '24 hours') END "
                "FROM unnest(CAST(:pids AS bigint[]), CAST(:targets AS integer[]), "
                "CAST(:holds AS integer[])) AS c(pid, target, hold) "
                "WHERE plans.patient_id = c.pid RETURNING plans.patient_id"
            ),
            {"now": now, "pids": pids, "targets": targets, "holds": holds},
        )
        return set(updated.scalars())
    held: dict[int, dt.datetime | None] = {}
    ids = [pid for pid, _, _ in changes]
    for chunk in chunks(session, ids):
        rows = session.execute(
            select(Plan.patient_id, Plan.progression_held_until).where(Plan.patient_id.in_(chunk))
        )
        held.update((pid, until) for pid, until in rows)
    updates: list[dict[str, Any]] = []
    for pid, target, hold in changes:
        if pid not in held:
            continue
        values: dict[str, Any] = {"patient_id": pid}
        if target is not None:
            values.update(daily_target=target, changed_at=now)
        if hold:
            until, before = now + dt.timedelta(days=hold), held[pid]
            values["progression_held_until"] = max(until, before) if before else until
        updates.append(values)
    if updates:
        session.execute(update(Plan), updates)
    return set(held)


def merge_rule_state(
    session: Session, states: Mapping[int, tuple[dict[str, str], dict[str, int]]]
) -> None:
    """Merge patient id -> (rule id -> ISO instant fired, tip id -> variant) into rule state.

    One row per patient; entries not named here are kept. An upsert that merges in SQL, so a
    pain report and the scheduler evaluating the same patient at once both land.
    """
    if not states:
        return
    if is_postgresql(session):
        # The whole batch as ONE JSON parameter (serialised in C), unpacked by the server.
        doc = json.dumps(
            {pid: {"f": fired, "v": variants} for pid, (fired, variants) in states.items()},
            separators=(",", ":"),
        )
        session.execute(
            text(
                "INSERT INTO rule_firings (patient_id, last_fired, last_variant) "
                "SELECT CAST(key AS bigint), CAST(value -> 'f' AS json), "
                "CAST(value -> 'v' AS json) FROM jsonb_each(CAST(:doc AS jsonb)) ORDER BY 1 "
                "ON CONFLICT (patient_id) DO UPDATE SET "
                "last_fired = CAST(CAST(rule_firings.last_fired AS jsonb) "
                "|| CAST(excluded.last_fired AS jsonb) AS json), "
                "last_variant = CAST(CAST(rule_firings.last_variant AS jsonb) "
                "|| CAST(excluded.last_variant AS jsonb) AS json)"
            ),
            {"doc": doc},
        )
        return
    session.execute(
        text(
            "INSERT INTO rule_firings (patient_id, last_fired, last_variant) "
            "VALUES (:pid, :fired, :variants) "
            "ON CONFLICT (patient_id) DO UPDATE SET "
            "last_fired = json_patch(rule_firings.last_fired, excluded.last_fired), "
            "last_variant = json_patch(rule_firings.last_variant, excluded.last_variant)"
        ),
        [
            {"pid": pid, "fired": dumps(fired), "variants": dumps(variants)}
            for pid, (fired, variants) in sorted(states.items())
        ],
    )
