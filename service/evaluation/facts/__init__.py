"""Facts (SPEC §6) and rule state from the database, for a batch of patients at one moment.

The definitions are those of `rules.facts`; `rules.reference.compute_facts` is the oracle and
a property test holds this package to it on SQLite and PostgreSQL. Local calendars are handled
in Python, once per time zone (`derive.Calendar`): each patient's day and window bounds come
from their zone, then each fact family's loader (one module each, listed in `LOADERS`) runs a
handful of range queries for the whole batch (`service.sqlutil.among`: one array parameter on
PostgreSQL, `IN (...)` chunks on SQLite), over the widest bounds, each row then filtered to its
own patient's window. Nothing here runs a query per patient.

A new fact family is a module with a `load(session, patients, ids, now)` that fills fields of
`derive.LoadedPatient`, one line in `LOADERS`, and its facts in `derive.patient_facts`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from rules import EvaluationState
from service.evaluation.derive import (
    Calendar,
    LoadedPatient,
    PatientContext,
    local_midnight,
    patient_facts,
)
from service.evaluation.facts import (
    baselines,
    engagement,
    exercise,
    pain,
    plan,
    prom,
    rule_state,
    shoes,
    steps,
    tips,
    walks,
)
from service.patients.models import PatientProfile
from service.safety.facts import load_safety
from service.sqlutil import among, chunks, json_list, rows

__all__ = ["LOADERS", "PatientContext", "compute", "load_contexts", "local_midnight"]

Loader = Callable[[Session, dict[int, LoadedPatient], list[int], dt.datetime], None]


def _load_safety(
    session: Session, patients: dict[int, LoadedPatient], ids: list[int], now: dt.datetime
) -> None:
    for pid, safety in load_safety(session, ids, now).items():
        patients[pid].episode, patients[pid].resolved_at, patients[pid].cleared = safety


# In order: long streaks need the steps and the plan already loaded, baselines the steps.
LOADERS: tuple[Loader, ...] = (
    steps.load,
    plan.load,
    pain.load,
    walks.load,
    exercise.load,
    tips.load,
    rule_state.load,
    shoes.load,
    steps.load_long_streaks,
    _load_safety,
    prom.load,
    baselines.load,  # after steps: the window answers most patients
    engagement.load,
)


def load_contexts(session: Session, patient_ids: Iterable[int]) -> dict[int, PatientContext]:
    """Read the profiles of these patients (one query per chunk of ids)."""
    session.flush()  # reads below go straight to the connection
    out: dict[int, PatientContext] = {}
    cols = (
        PatientProfile.user_id,
        PatientProfile.timezone,
        PatientProfile.enrolled_at,
        cast(PatientProfile.conditions, Text),
        PatientProfile.shoes_changed_on,
        PatientProfile.primary_source,
        PatientProfile.max_tips_per_day,
        PatientProfile.clinic_id,
        PatientProfile.ruleset_id,
    )
    for chunk in chunks(session, sorted(set(patient_ids))):
        found = rows(session, select(*cols).where(among(session, PatientProfile.user_id, chunk)))
        for row in found:
            conditions = frozenset(json_list(row[3]) or ())
            out[row[0]] = PatientContext(row[0], row[1], row[2], conditions, *row[4:])
    return out


def compute(
    session: Session,
    contexts: Iterable[PatientContext],
    now: dt.datetime,
    failed: dict[int, Exception] | None = None,
) -> dict[int, tuple[dict[str, object], EvaluationState]]:
    """Facts and rule state of every patient at `now`: patient id -> (facts, state).

    With `failed`, a patient whose facts cannot be derived is left out and their error put
    there (the batch goes on); without it the error propagates.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    session.flush()  # the caller's pending reports count
    calendars: dict[str, Calendar] = {}
    patients: dict[int, LoadedPatient] = {}
    for ctx in contexts:
        cal = calendars.get(ctx.timezone)
        if cal is None:
            cal = calendars[ctx.timezone] = Calendar(ctx.timezone, now)
        patients[ctx.patient_id] = LoadedPatient(ctx, cal)
    if not patients:
        return {}
    ids = sorted(patients)
    for load in LOADERS:
        load(session, patients, ids, now)
    if failed is None:
        return {pid: patient_facts(p, now) for pid, p in patients.items()}
    out = {}
    for pid, p in patients.items():
        try:
            out[pid] = patient_facts(p, now)
        except Exception as exc:  # one patient's odd data must not stop the batch
            failed[pid] = exc
    return out
