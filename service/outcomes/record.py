"""What the evaluation pipeline hands to outcomes: availability before, decision records after.

Both are set-based: one query for the quiet hours of the patients whose rule set randomises,
one bulk insert (COPY on PostgreSQL) for the records of a whole batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules import Decision, EvaluationState
from service import bulk
from service.delivery.policy import quiet_window
from service.outcomes.models import DecisionRecord
from service.patients.models import PatientProfile
from service.rulesets.compiled import CompiledVersion
from service.sqlutil import chunks

RECORD_COLUMNS = (
    "patient_id",
    "evaluation_id",
    "ruleset_version_id",
    "ruleset",
    "rule_id",
    "tip_key",
    "variant",
    "decided_at",
    "outcome",
    "probability",
    "draw",
    "reason",
)


def randomizes(version: CompiledVersion) -> bool:
    """Say whether the patient's rule set has a randomised rule."""
    return any(rule.randomize is not None for rule in version.ruleset.rules)


def prepare_states(
    session: Session,
    states: Mapping[int, EvaluationState],
    compiled: Mapping[int, CompiledVersion],
    now: dt.datetime,
) -> None:
    """Seed each patient's draws with their id and mark those in quiet hours unavailable.

    Only patients whose rule set randomises are touched (and queried).
    """
    ids = [pid for pid in states if randomizes(compiled[pid])]
    if not ids:
        return
    profiles: dict[int, PatientProfile] = {}
    for part in chunks(session, ids):
        rows = session.scalars(select(PatientProfile).where(PatientProfile.user_id.in_(part)))
        profiles.update((profile.user_id, profile) for profile in rows)
    for pid in ids:
        state = states[pid]
        state.seed = str(pid)
        window = quiet_window(profiles.get(pid), compiled[pid].ruleset.settings.quiet_hours, now)
        if window is not None and window.contains(now):
            state.unavailable = "quiet hours"


def write_records(
    session: Session,
    decided: Iterable[tuple[int, int, Decision]],
    compiled: Mapping[int, CompiledVersion],
    now: dt.datetime,
) -> int:
    """Insert the randomised rules' records of (patient, evaluation, decision); return how many."""
    rows: list[tuple[Any, ...]] = []
    for pid, evaluation_id, decision in decided:
        version = compiled[pid]
        for item in decision.randomized:
            rows.append(
                (
                    pid,
                    evaluation_id,
                    version.version_id,
                    version.ruleset.slug,
                    item.rule_id,
                    item.tip_id,
                    item.variant,
                    now,
                    item.outcome,
                    item.probability,
                    item.draw,
                    item.reason[:200],
                )
            )
    bulk.insert_rows(session, DecisionRecord, RECORD_COLUMNS, rows, with_ids=False)
    return len(rows)
