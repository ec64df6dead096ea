"""The console's outcomes page: the effects chart with its table, and the programme table."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask

from integrations.wearables.sandbox_cohort import CohortModel
from service.accounts.models import Clinic
from service.extensions import db
from service.outcomes import proximal
from tests.support.console import signed_in
from tests.support.factories import Seed
from tests.support.outcomes import COHORT_YAML, mrt_patients, mrt_ruleset, run_cohort

NOW = dt.datetime(2026, 11, 27, 16, 0, tzinfo=dt.UTC)
ENROLLED = NOW - dt.timedelta(days=20)


@pytest.fixture
def now() -> dt.datetime:
    """The named users are enrolled on this module's clock."""
    return NOW


def test_it_charts_each_randomised_tips_effect_beside_its_table(app: Flask, seed: Seed) -> None:
    with db.transaction():
        clinic = db.session.get(Clinic, seed.clinic_id)
        ruleset_id = mrt_ruleset(seed.clinic_id, COHORT_YAML)
        patients = mrt_patients(clinic, ruleset_id, 8, ENROLLED)
    models = {"walk-nudge": CohortModel(seed=3), "stretch-nudge": CohortModel(effect=0, seed=4)}
    run_cohort(patients, ENROLLED, 14, models)
    proximal.run_due(NOW)

    page = signed_in(app, seed.clinician).get("/console/outcomes")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'aria-current="page">Outcomes' in html
    # One bar per rule and per week of enrolment (two weeks), each naming its figures.
    chart = html[html.index('id="forest"') : html.index("</svg>", html.index('id="forest"'))]
    titles = re.findall(r"<title>([^<]+)</title>", chart)
    assert [t.split(":")[0] for t in titles] == [
        "stretch-nudge",
        "week 1",
        "week 2",
        "walk-nudge",
        "week 1",
        "week 2",
    ]
    assert all(re.search(r": [+-]\d\.\d\d \([+-]\d\.\d\d to [+-]\d\.\d\d\)$", t) for t in titles)
    # The table says the same for every rule and wording.
    table = html[html.index('id="tip-effects"') : html.index('id="programme"')]
    rows = re.findall(r"<tr>\s*<td>mrt-walk</td>\s*<td>([a-z-]+)</td>\s*<td>(\w+)</td>", table)
    assert ("walk-nudge", "all") in rows
    assert ("walk-nudge", "2") in rows  # the second wording of the walk tip
    walk = next(t for t in titles if t.startswith("walk-nudge"))
    assert walk.split(": ")[1] in table
    # The programme table: the cohort (and the seed's two patients) by rule set.
    programme = html[html.index('id="programme"') :]
    assert re.search(r"<td>mrt-walk v1</td>\s*<td>8</td>", programme)


def test_it_invites_a_clinic_without_randomised_rules_to_add_one(app: Flask, seed: Seed) -> None:
    html = signed_in(app, seed.clinician).get("/console/outcomes").get_data(as_text=True)
    assert "No randomised rules have made decisions yet" in html
    assert 'id="forest"' not in html


def test_it_refuses_patients(app: Flask, seed: Seed) -> None:
    assert signed_in(app, seed.patient_a).get("/console/outcomes").status_code == 403
