"""The demo clinic's four weeks, replayed through the use cases that would have run (issue 13).

`flask setup` seeds the demo patients four weeks into the programme. So that a clinician who
signs in sees a clinic with a past (steps against a goal that moved, tips sent, pain reported,
alerts waiting, a safety episode open), `replay` runs those four weeks for each patient, in
order, as production would have run them:

- each morning at 07:00 the sandbox wearable's previous day arrives and is stored as a sync
  stores it (`service.connections.ingest`);
- each day's first decision time (`settings.decision_times` of the patient's rule set) runs
  the scheduled evaluation (`service.evaluation.population.evaluate_batch`), which moves the
  goal and sends the day's tips;
- each evening's pain report goes through the pain-report use case (`report_pain`), which
  evaluates at once.

Two evaluations production also runs are left out, because the replay would make them say
wrong things or nothing: the sync's own (trigger `activity`: at 07:00 quiet hours hold every
tip, and the decision an hour later reads the same data) and the later decision times (the
afternoon's rules read today's steps so far, which a replay of whole days does not have).
That also keeps the seed to a few hundred evaluations.

Tips, plan changes, alerts and safety episodes are then what the rules make of it, through
the same code as in production: the red-flag persona's flags open a safety episode (written by
`service.safety.episodes` in the evaluation), the night pain `plateau` reports yesterday leaves
a warning alert, and the steady improver stays quiet while its goal rises. Every instant
derives from `now`, the seed's clock, and nothing after it is replayed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from integrations.wearables import WalkingSession as WalkRecord
from integrations.wearables.sandbox import SandboxProvider, persona_pain_reports
from service.connections import ingest
from service.connections.models import WearableConnection
from service.evaluation.population import evaluate_batch
from service.reports.service import report_pain
from service.rulesets.compiled import Assignment, resolve

DAY = dt.timedelta(days=1)
SYNC_AT = dt.time(7, 0)  # the phone syncs the wearable over breakfast
# Reports the personas do not make by themselves, as (days before today, local time, score,
# red flags): `plateau` mentions night pain yesterday, which the rules answer with a warning.
EXTRA_REPORTS: dict[str, tuple[tuple[int, dt.time, int, tuple[str, ...]], ...]] = {
    "plateau": ((1, dt.time(19, 40), 5, ("night_pain",)),),
}


@dataclass(order=True)
class _Event:
    at: dt.datetime
    order: int  # at one instant: the sync, then the decision, then the report
    kind: str = field(compare=False)
    day: dt.date | None = field(default=None, compare=False)
    report: tuple[int, tuple[str, ...]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class DemoPatient:
    """A seeded patient to replay: who, which sandbox persona, where, since when."""

    patient_id: int
    clinic_id: int
    persona: str
    timezone: str
    enrolled_at: dt.datetime
    connection: WearableConnection


def replay(session: Session, patient: DemoPatient, now: dt.datetime) -> None:
    """Run the patient's weeks since enrolment up to `now` (the caller commits)."""
    zone = ZoneInfo(patient.timezone)
    today = now.astimezone(zone).date()
    first = patient.enrolled_at.astimezone(zone).date()
    fetched = SandboxProvider(client_id="sandbox", client_secret="sandbox").fetch(  # noqa: S106
        SandboxProvider.token_for(patient.persona),
        cursor=None,
        tz=zone,
        today=today,
        max_days=(today - first).days + 1,
    )
    days = {record.date: record for record in fetched.days}
    walks: dict[dt.date, list[WalkRecord]] = {}
    for walk in fetched.sessions:
        walks.setdefault(walk.start.astimezone(zone).date(), []).append(walk)
    assignment = Assignment(patient.patient_id, patient.clinic_id, None)
    times = resolve(session, [assignment])[patient.patient_id].ruleset.settings.decision_times
    events = _events(patient, zone, first, today, tuple(times[:1]))
    last_sync: dt.datetime | None = None
    for event in sorted(e for e in events if patient.enrolled_at <= e.at <= now):
        if event.kind == "sync" and event.day is not None:
            day = event.day
            if day in days:
                ingest.upsert_days(session, patient.patient_id, "sandbox", [days[day]], event.at)
            ingest.upsert_sessions(
                session, patient.patient_id, "sandbox", walks.get(day, []), event.at
            )
            last_sync = event.at
        elif event.kind == "decision":
            evaluate_batch(session, [patient.patient_id], event.at)
        elif event.report is not None:
            score, flags = event.report
            body = {"score": score, "recorded_at": event.at, "red_flags": list(flags)}
            report_pain(session, patient.patient_id, body, event.at)
    if last_sync is not None:
        patient.connection.last_sync_at = last_sync
        patient.connection.cursor = (today - DAY).isoformat()


def _events(
    patient: DemoPatient,
    zone: ZoneInfo,
    first: dt.date,
    today: dt.date,
    decision_times: tuple[dt.time, ...],  # the ones to replay
) -> list[_Event]:
    """Every sync, decision and pain report of the patient's programme, in local time."""

    def at(day: dt.date, moment: dt.time) -> dt.datetime:
        return dt.datetime.combine(day, moment, tzinfo=zone).astimezone(dt.UTC)

    events: list[_Event] = []
    day = first
    while day <= today:
        if day > first:
            events.append(_Event(at(day, SYNC_AT), 0, "sync", day=day - DAY))
        events.extend(_Event(at(day, moment), 1, "decision") for moment in decision_times)
        day += DAY
    for report in persona_pain_reports(patient.persona, first, today, zone, today):
        events.append(
            _Event(report.recorded_at, 2, "pain", report=(report.score, report.red_flags))
        )
    for days_before, moment, score, flags in EXTRA_REPORTS.get(patient.persona, ()):
        events.append(
            _Event(at(today - days_before * DAY, moment), 2, "pain", report=(score, flags))
        )
    return events
