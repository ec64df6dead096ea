"""`make run` on an empty database: the development setup seeds a demo clinic with a past, and
the clinician's Today list opens on the red-flag patient (issue 13, "Done when")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from service import bootstrap
from service.accounts.auth import Principal
from service.accounts.models import User
from service.clinicians.worklist import today_list
from service.extensions import db, get_settings
from service.plans.models import PlanChange
from service.reports.models import PainReport
from service.safety.models import SafetyEpisode
from service.tips.models import Tip

NOW = dt.datetime(2026, 11, 18, 9, 45, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    """This module's pinned clock."""
    return NOW


def test_development_setup_opens_today_on_the_red_flag_patient(
    make_app: Callable[..., Flask], now: dt.datetime
) -> None:
    app = make_app(env="development")
    with app.app_context():
        settings = get_settings()
        bootstrap.run(settings, demo=bootstrap.seeds_demo(settings, None), now=now)
        with db.transaction() as session:
            clinician = session.scalar(
                select(User).where(User.email == bootstrap.DEMO_CLINICIAN[0])
            )
            assert clinician is not None
            principal = Principal(clinician.id, "clinician", clinician.clinic_id)
            page: dict[str, Any] = today_list(session, principal, now)
            rows = {row.email: row for row in page["items"]}
            first = page["items"][0]
            per_patient = select(Tip.patient_id, func.count()).group_by(Tip.patient_id)
            tips = dict(session.execute(per_patient).all())
            episodes = session.scalars(select(SafetyEpisode)).all()
            changes = session.scalars(select(PlanChange.reason)).all()
            latest_report = session.scalar(select(func.max(PainReport.recorded_at)))
    assert page["total"] == 6
    # The red-flag patient's reports opened a safety episode through the rules: first on Today.
    assert first.email == "red-flag@demo.example"
    assert first.need == "Safety episode"
    assert first.alert_severity == "urgent"
    assert [(e.patient_id, e.tier, e.closed_at) for e in episodes] == [
        (first.id, "emergency", None)
    ]
    # Yesterday's night pain left a warning; the steady improver walks on, quietly.
    assert rows["plateau@demo.example"].alert_severity == "warning"
    assert rows["steady-improver@demo.example"].need == "On track"
    assert rows["steady-improver@demo.example"].latest_pain is not None
    assert rows["steady-improver@demo.example"].latest_pain <= 2
    # Four weeks of history: steps on the chart, tips for everyone, goals that moved.
    walked = {
        email: sum(1 for _day, steps, _t in row.series if steps) for email, row in rows.items()
    }
    assert min(walked.values()) >= 10  # the low-adherence patient leaves the watch off often
    assert walked["steady-improver@demo.example"] >= 25
    assert set(tips) == {row.id for row in rows.values()}
    assert {"initial", "progress", "pain-flare"} <= set(changes)
    assert latest_report is not None
    assert latest_report.replace(tzinfo=dt.UTC) <= now  # nothing after the seed's clock
