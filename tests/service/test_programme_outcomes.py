"""Programme outcomes: enrolment, activity, completion, steps and pain change, PEG, engagement."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from service.accounts.models import Clinic
from service.activity.models import DailyActivity
from service.extensions import db
from service.questionnaires.models import Questionnaire, QuestionnaireResponse
from service.reports.models import PainReport
from tests.support.factories import Seed, make_patient

# The route measures the programme up to the real time it reads, so the data are dated from the
# real clock (read once here: yesterday at 16:00 UTC, a fixed time of day for the day windows),
# not from a pinned day that drifts further away every day.
NOW = dt.datetime.combine(
    dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1), dt.time(16), tzinfo=dt.UTC
)
LONG_AGO = NOW - dt.timedelta(days=91, hours=4)  # 13 weeks: lived through the whole programme


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


def _day(enrolled: dt.datetime, n: int) -> dt.date:
    return (enrolled + dt.timedelta(days=n)).date()


def _pain(patient: int, enrolled: dt.datetime, day: int, score: int) -> PainReport:
    at = enrolled + dt.timedelta(days=day, hours=2)
    return PainReport(patient_id=patient, score=score, recorded_at=at, red_flags=[])


def _peg(patient: int, enrolled: dt.datetime, day: int, score: float) -> None:
    at = enrolled + dt.timedelta(days=day, hours=3)
    asked = Questionnaire(patient_id=patient, instrument="peg", status="answered", created_at=at)
    db.session.add(asked)
    db.session.flush()
    db.session.add(
        QuestionnaireResponse(
            questionnaire_id=asked.id,
            patient_id=patient,
            instrument="peg",
            answers={"pain": 5, "enjoyment": 5, "activity": 5},
            score=score,
            answered_at=at,
        )
    )


@pytest.fixture
def programme(seed: Seed) -> dict[str, int]:
    """North: a completer whose pain halves, a drop-out, a newcomer (and seed's A and B)."""
    with db.transaction() as session:
        clinic = session.get(Clinic, seed.clinic_id)
        keen = make_patient(clinic, email="keen@example.org", enrolled_at=LONG_AGO).id
        gone = make_patient(clinic, email="gone@example.org", enrolled_at=LONG_AGO).id
        new = make_patient(clinic, email="new@example.org", enrolled_at=NOW - dt.timedelta(days=15))
        for day in range(84):
            steps = 3000 if day < 7 else 4500
            session.add(
                DailyActivity(
                    patient_id=keen, date=_day(LONG_AGO, day), source="manual", steps=steps
                )
            )
        for day in range(7):
            session.add(
                DailyActivity(
                    patient_id=gone, date=_day(LONG_AGO, day), source="manual", steps=4000
                )
            )
        session.add_all(
            [
                _pain(keen, LONG_AGO, 1, 6),
                _pain(keen, LONG_AGO, 3, 6),
                *(_pain(keen, LONG_AGO, 7 * w - 3, 3) for w in (4, 8, 12)),
                _pain(gone, LONG_AGO, 2, 5),
                _pain(gone, LONG_AGO, 24, 4),  # week 3: 20% less, under both thresholds
            ]
        )
        _peg(keen, LONG_AGO, 1, 6.0)
        _peg(keen, LONG_AGO, 56, 4.0)
    return {"keen": keen, "gone": gone, "new": new.id}


def _north(body: dict[str, Any], seed: Seed) -> dict[str, Any]:
    (group,) = [g for g in body["groups"] if g["clinic_id"] == seed.clinic_id]
    return group


def test_it_reports_the_programme_outcomes_of_the_clinic(
    client: Any, seed: Seed, programme: dict[str, int]
) -> None:
    response = client.get("/v1/clinician/outcomes/programme", headers=seed.headers("clinician"))
    assert response.status_code == 200
    group = _north(response.json, seed)
    assert group["clinic"] == "North Clinic"
    assert group["enrolled"] == 5  # keen, gone, new, and the seed's patients A and B
    week0, week11 = group["active_by_week"][0], group["active_by_week"][11]
    assert (week0["eligible"], week0["active"]) == (3, 2)  # A and B have not lived a week
    assert (week11["eligible"], week11["active"]) == (2, 1)
    assert group["completed_12_weeks"] == {"eligible": 2, "completed": 1, "share": 0.5}
    assert group["steps_change"]["patients"] == 1
    assert group["steps_change"]["mean"] == 1500.0
    four, eight, twelve = group["pain"]
    assert (four["week"], four["patients"], four["share_30"], four["share_50"]) == (4, 2, 0.5, 0.5)
    assert four["mean_change_pct"] == pytest.approx((-50 - 20) / 2)
    assert (twelve["patients"], twelve["share_50"]) == (1, 1.0)
    assert eight["mean_change_pct"] == -50.0
    assert group["peg"][1] == {"week": 8, "patients": 1, "mean_change": -2.0}
    assert group["peg"][0]["patients"] == 0
    bands = group["engagement"]
    assert [b["band"] for b in bands] == ["low", "middle", "high"]
    assert sum(b["patients"] for b in bands) == 5
    # The two who reported at all are the top third: their pain fell by 50% and 20%.
    assert (bands[-1]["patients"], bands[-1]["mean_pain_change_pct"]) == (2, -35.0)
    assert bands[0]["mean_pain_change_pct"] is None


def test_it_shows_a_clinician_only_their_clinic(
    client: Any, seed: Seed, programme: dict[str, int]
) -> None:
    south = client.get("/v1/clinician/outcomes/programme", headers=seed.headers("other_clinician"))
    assert south.status_code == 200
    assert all(g["clinic_id"] == seed.other_clinic_id for g in south.json["groups"])
    admin = client.get("/v1/clinician/outcomes/programme", headers=seed.headers("admin"))
    assert _north(admin.json, seed)["enrolled"] == 5
