"""The clinician read API: invites, summaries, timeline, plan changes, audit."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from service.accounts.models import Clinic, Invite
from service.alerts.models import ClinicianAlert
from service.audit.models import AuditEvent
from service.extensions import db
from service.plans.models import Plan, PlanChange
from service.reports.models import PainReport
from service.rulesets.models import RuleSet
from service.tips.models import Tip
from tests.factories import Seed, make_patient

LONDON = zoneinfo.ZoneInfo("Europe/London")


@contextmanager
def count_queries() -> Iterator[list[str]]:
    """Collect the SQL statements run while the block executes."""
    statements: list[str] = []

    def _log(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", _log)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", _log)


def _add_data(seed: Seed) -> None:
    now = dt.datetime.now(dt.UTC)
    today = now.astimezone(LONDON).date()
    with db.transaction() as session:
        for back, steps in ((1, 5000), (2, 3000), (8, 99_000)):
            day = today - dt.timedelta(days=back)
            client_rows = [("manual", steps), ("healthkit", steps - 1000)]
            for source, value in client_rows:
                session.execute(
                    db.engine.dialect.statement_compiler  # noqa: B018 - keep the import honest
                    and select(1)
                )
                from service.activity.models import DailyActivity  # noqa: PLC0415

                session.add(
                    DailyActivity(
                        patient_id=seed.patient_a, date=day, source=source, steps=value
                    )
                )
        session.add(PainReport(patient_id=seed.patient_a, score=3, recorded_at=now - dt.timedelta(days=2)))
        session.add(PainReport(patient_id=seed.patient_a, score=7, recorded_at=now - dt.timedelta(hours=1)))
        session.add(ClinicianAlert(clinic_id=seed.clinic_id, patient_id=seed.patient_a, severity="urgent", message="red flag"))
        session.add(ClinicianAlert(clinic_id=seed.clinic_id, patient_id=seed.patient_a, severity="info", message="old", acked_at=now))
