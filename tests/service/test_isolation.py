"""A rule set that fails at run time fails only its own patients' evaluations.

The engine's loader now proves arithmetic bounded and templates showable before it accepts a
rule set, so no uploaded text can be made to fail at run time on purpose: what remains are
values its checks could not foresee (data outside the fact catalogue) and bugs, which the
engine reports as `RuleRuntimeError`. So the rule set here is a real one, uploaded, published
and assigned like any other, and its compiled form is registered at the service's boundary
with the engine (`service.rulesets.compiled.register_compiled`) wrapped so that its rule
`overflow` fails as the engine reports such failures: `RuleRuntimeError` naming the rule and
its expression, caused by a real OverflowError, for every patient with a plan (the others are
evaluated by the real rule set). Everything after that - resolution, evaluation, recording,
alerting, scheduling, the HTTP answers - is the service's own code.

A second source of failure needs no wrapper at all: a stored version that no longer compiles
(written to the database as an older engine accepted it).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import requests
from flask import Flask
from sqlalchemy import func, select

import rules
from integrations.wearables.sandbox import SandboxProvider
from service.accounts.models import Clinic
from service.activity.models import DailyActivity
from service.alerts.models import ClinicianAlert
from service.config import ProviderSettings
from service.connections.models import WearableConnection
from service.connections.sync import sync_due_connections
from service.connections.tokens import store_token
from service.crypto import cipher_for
from service.evaluation.models import Evaluation
from service.evaluation.pending import run_pending
from service.evaluation.population import DueResult, evaluate_due
from service.extensions import db, get_settings
from service.patients.models import PatientProfile
from service.reports.models import ExerciseSession, PainReport
from service.rulesets.compiled import compile_version, register_compiled
from service.rulesets.models import RuleSet, RuleSetVersion
from service.rulesets.service import add_version, publish
from tests.conftest import LiveServer
from tests.support.factories import Seed, make_patient

EXPRESSION = "plan.target * 2"
FAILING = f"""\
ruleset: overflowing
title: A rule set whose target rule fails at run time
settings:
  decision_times: ["08:30", "15:00"]
  max_tips_per_day: 3
  target: {{initial: 4000, min: 2000, max: 12000, max_weekly_increase: 0.10}}
tips:
  keep-going:
    category: general
    title: Keep going
    text: "A short walk today still counts."
rules:
  - id: overflow
    description: Asks for a higher target.
    when: plan.target > 0
    then:
      - set_target: "{EXPRESSION}"
  - id: cheer
    priority: -1
    when: plan.target > 0
    then:
      - send_tip: keep-going
"""
FAILURE = {
    "stage": "rules",
    "rule_id": "overflow",
    "error": "OverflowError",
    "message": f"int too large to convert to float (in {EXPRESSION})",
}


class FailsAtRunTime:
    """A compiled rule set whose rule `overflow` fails at run time for patients with a plan."""

    def __init__(self, compiled: rules.RuleSet) -> None:
        self._compiled = compiled

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compiled, name)

    def evaluate(
        self, facts: Any, trigger: str = "schedule", state: Any = None, now: Any = None, **kw: Any
    ) -> rules.Decision:
        if facts.get("plan.target") is None:
            return self._compiled.evaluate(facts, trigger, state, now, **kw)
        try:
            float(10**400)  # what an unbounded target once did: a real OverflowError
        except OverflowError as exc:
            raise rules.RuleRuntimeError("overflow", EXPRESSION, str(exc)) from exc
        raise AssertionError("unreachable")


def _fail_at_run_time(slug: str = "overflowing") -> None:
    """Register the failing compilation of the rule set's published version."""
    db.session.remove()
    version_id, text = db.session.execute(
        select(RuleSetVersion.id, RuleSetVersion.yaml_text)
        .join(RuleSet, RuleSet.id == RuleSetVersion.ruleset_id)
        .where(RuleSet.slug == slug, RuleSetVersion.version == RuleSet.published_version)
    ).one()
    register_compiled(version_id, FailsAtRunTime(compile_version(version_id, text)))


# A version stored before the engine's checks tightened: it no longer compiles.
STALE = FAILING.replace("ruleset: overflowing", "ruleset: stale").replace(
    "when: plan.target > 0", "when: plan.tagret > 0", 1
)
ZONES = ["Europe/London", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _publish_failing(base: str, clinician: dict[str, str]) -> None:
    yaml = {**clinician, "Content-Type": "application/yaml"}
    uploaded = requests.post(f"{base}/v1/rulesets", data=FAILING.encode(), headers=yaml, timeout=15)
    assert uploaded.status_code == 201, uploaded.text
    published = requests.post(
        f"{base}/v1/rulesets/overflowing/versions/1/publish", headers=clinician, timeout=15
    )
    assert published.status_code == 200, published.text
    _fail_at_run_time()


def _stored_ruleset(clinic_id: int, text: str, *, validated: bool = True) -> int:
    """A published rule set of the clinic; `validated=False` stores the text as it is."""
    with db.transaction() as session:
        if validated:
            ruleset, _ = add_version(session, clinic_id, text, None, _now())
        else:
            ruleset = RuleSet(clinic_id=clinic_id, slug="stale", title="Stale")
            session.add(ruleset)
            session.flush()
            session.add(RuleSetVersion(ruleset_id=ruleset.id, version=1, yaml_text=text))
            session.flush()
        publish(session, ruleset, 1, _now())
        return ruleset.id


def _due_patients(
    clinic_ids: list[int | None], now: dt.datetime, *, ruleset_id: int | None = None, tag: str
) -> list[int]:
    """One due patient per clinic id given, all on `ruleset_id` (None: the clinic's default)."""
    ids = []
    with db.transaction() as session:
        for number, clinic_id in enumerate(clinic_ids):
            clinic = session.get(Clinic, clinic_id) if clinic_id else None
            user = make_patient(
                clinic,
                email=f"{tag}{number}@patients.example",
                timezone=ZONES[number % len(ZONES)],
                enrolled_at=now - dt.timedelta(days=10),
            )
            profile = session.get(PatientProfile, user.id)
            assert profile is not None
            profile.ruleset_id = ruleset_id
            profile.next_decision_at = now - dt.timedelta(minutes=1)
            ids.append(user.id)
    return ids


def _evaluations(patient_id: int) -> list[Evaluation]:
    db.session.remove()
    return list(
        db.session.scalars(
            select(Evaluation).where(Evaluation.patient_id == patient_id).order_by(Evaluation.id)
        )
    )


def _alerts() -> list[ClinicianAlert]:
    db.session.remove()
    return list(db.session.scalars(select(ClinicianAlert)))


def test_it_stores_the_reports_and_uploads_of_a_patient_whose_rule_set_fails(
    live_server: LiveServer, seed: Seed
) -> None:
    base, clinician = live_server.url, seed.headers("clinician")
    _publish_failing(base, clinician)
    assigned = requests.patch(
        f"{base}/v1/clinician/patients/{seed.patient_a}/plan",
        json={"ruleset": "overflowing"},
        headers=clinician,
        timeout=15,
    )
    assert assigned.status_code == 200, assigned.text
    me = seed.headers("patient_a")
    yesterday = (_now() - dt.timedelta(days=1)).date().isoformat()

    pain = requests.post(f"{base}/v1/me/pain", json={"score": 6}, headers=me, timeout=15)
    exercise = requests.post(
        f"{base}/v1/me/exercise",
        json={"kind": "strength", "name": "bird-dog"},
        headers=me,
        timeout=15,
    )
    upload = requests.put(
        f"{base}/v1/me/activity/daily",
        json={"days": [{"date": yesterday, "steps": 5200, "source": "health_connect"}]},
        headers=me,
        timeout=15,
    )
    other = requests.post(
        f"{base}/v1/me/pain", json={"score": 8}, headers=seed.headers("patient_b"), timeout=15
    )

    assert (pain.status_code, pain.json()["tips"]) == (201, [])
    assert (exercise.status_code, exercise.json()["tips"]) == (201, [])
    assert upload.status_code == 200
    assert upload.json() == {"upserted": 1, "evaluation": "pending"}
    db.session.remove()
    # The upload's evaluation is the scheduled job's: it fails for this patient, alone.
    assert run_pending(_now()).failed == 1
    assert db.session.get(PainReport, pain.json()["id"]) is not None
    assert db.session.get(ExerciseSession, exercise.json()["id"]) is not None
    assert (
        db.session.scalar(
            select(DailyActivity.steps).where(DailyActivity.patient_id == seed.patient_a)
        )
        == 5200
    )
    # The patient on the default rule set is answered as usual.
    assert other.status_code == 201
    assert other.json()["tips"]
    history = requests.get(
        f"{base}/v1/clinician/patients/{seed.patient_a}/evaluations", headers=clinician, timeout=15
    )
    assert history.status_code == 200
    items = history.json()["items"]
    assert sorted(item["trigger"] for item in items) == [
        "activity",
        "exercise_report",
        "pain_report",
    ]
    for item in items:
        assert item["status"] == "failed"
        assert item["error"] == FAILURE
        assert item["actions"] == {}
        assert "rule overflow" in item["explain"]
    others = requests.get(
        f"{base}/v1/clinician/patients/{seed.patient_b}/evaluations", headers=clinician, timeout=15
    ).json()["items"]
    assert [(item["status"], item["error"]) for item in others] == [("ok", None)]
    # Three failures of one kind, one alert to the clinic that owns the rule set.
    alerts = requests.get(f"{base}/v1/clinician/alerts", headers=clinician, timeout=15).json()
    assert len(alerts["items"]) == 1
    (alert,) = alerts["items"]
    assert (alert["severity"], alert["patient_id"]) == ("warning", seed.patient_a)
    assert "overflowing version 1" in alert["message"]
    assert "rule overflow failed" in alert["message"]
    assert alert["evaluation_id"] in {item["id"] for item in items}
    elsewhere = requests.get(
        f"{base}/v1/clinician/alerts", headers=seed.headers("other_clinician"), timeout=15
    )
    assert elsewhere.json()["items"] == []
    plan = requests.get(f"{base}/v1/me/plan", headers=me, timeout=15).json()
    assert plan["daily_target"] == 4000


def test_it_evaluates_every_other_due_patient_when_one_rule_set_fails(
    app: Flask, seed: Seed
) -> None:
    now = _now()
    failing = _stored_ruleset(seed.clinic_id, FAILING)
    _fail_at_run_time()
    (broken,) = _due_patients([seed.clinic_id], now, ruleset_id=failing, tag="failing")
    clinics: list[int | None] = [seed.clinic_id, seed.other_clinic_id, None]
    others = _due_patients(clinics * 3, now, tag="other")

    first = evaluate_due(now, batch_size=4)

    assert (first.evaluated, first.failed, first.duplicates) == (10, 1, 0)
    (failed,) = _evaluations(broken)
    assert failed.status == "failed"
    assert failed.error == FAILURE
    assert failed.decision_key is not None
    for pid in others:
        (evaluation,) = _evaluations(pid)
        assert (evaluation.status, evaluation.error) == ("ok", None)
        assert evaluation.decision_key is not None
    profiles = [db.session.get(PatientProfile, pid) for pid in [broken, *others]]
    assert all(p and p.next_decision_at and p.next_decision_at > now for p in profiles)
    (alert,) = _alerts()
    assert (alert.clinic_id, alert.patient_id, alert.severity) == (
        seed.clinic_id,
        broken,
        "warning",
    )
    assert alert.evaluation_id == failed.id

    # The next decision point: evaluated again, failed again, still one alert.
    later = max(p.next_decision_at for p in profiles if p and p.next_decision_at)
    with db.transaction() as session:
        for pid in [broken, *others]:
            profile = session.get(PatientProfile, pid)
            assert profile is not None
            profile.next_decision_at = later
    due = db.session.scalar(select(func.count()).where(PatientProfile.next_decision_at <= later))
    second = evaluate_due(later, batch_size=4)

    assert (second.evaluated, second.failed) == (due, 1)
    assert [e.status for e in _evaluations(broken)] == ["failed", "failed"]
    assert len(_alerts()) == 1


def test_it_raises_one_alert_when_two_workers_hit_the_same_failure(app: Flask, seed: Seed) -> None:
    now = _now()
    failing = _stored_ruleset(seed.clinic_id, FAILING)
    _fail_at_run_time()
    broken = _due_patients([seed.clinic_id] * 6, now, ruleset_id=failing, tag="failing")
    others = _due_patients([seed.clinic_id, seed.other_clinic_id] * 6, now, tag="other")
    results: list[DueResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        with app.app_context():
            try:
                start.wait()
                results.append(evaluate_due(now, batch_size=3))
            except BaseException as exc:
                errors.append(exc)
            finally:
                db.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r.evaluated for r in results) == len(broken) + len(others)
    assert sum(r.failed for r in results) == len(broken)
    assert len(_alerts()) == 1
    statuses = dict(db.session.execute(select(Evaluation.patient_id, Evaluation.status)).all())
    assert statuses == dict.fromkeys(broken, "failed") | dict.fromkeys(others, "ok")


def test_it_fails_only_the_patients_of_a_stored_version_that_no_longer_compiles(
    app: Flask, client: Any, seed: Seed
) -> None:
    now = _now()
    stale = _stored_ruleset(seed.clinic_id, STALE, validated=False)
    (broken,) = _due_patients([seed.clinic_id], now, ruleset_id=stale, tag="stale")
    others = _due_patients([seed.clinic_id, seed.other_clinic_id], now, tag="other")

    result = evaluate_due(now)

    assert (result.evaluated, result.failed) == (3, 1)
    (failed,) = _evaluations(broken)
    assert failed.error is not None
    assert failed.error["stage"] == "load"
    assert "plan.tagret" in failed.error["message"]
    assert [e.status for pid in others for e in _evaluations(pid)] == ["ok", "ok"]
    profile = db.session.get(PatientProfile, broken)
    assert profile is not None
    assert profile.next_decision_at is not None
    assert profile.next_decision_at > now
    (alert,) = _alerts()
    assert "stale version 1 could not be evaluated" in alert.message
    history = client.get(
        f"/v1/clinician/patients/{broken}/evaluations", headers=seed.headers("clinician")
    )
    assert history.status_code == 200
    assert history.json["items"][0]["status"] == "failed"


def test_it_stores_a_sync_for_every_patient_when_one_rule_set_fails(
    make_app: Any, seed: Seed
) -> None:
    app = make_app(
        providers={"sandbox": ProviderSettings(client_id="sandbox", client_secret="sandbox")}
    )
    with app.app_context():
        now = _now()
        failing = _stored_ruleset(seed.clinic_id, FAILING)
        _fail_at_run_time()
        with db.transaction() as session:
            profile = session.get(PatientProfile, seed.patient_a)
            assert profile is not None
            profile.ruleset_id = failing
            for pid in (seed.patient_a, seed.patient_b):
                conn = WearableConnection(patient_id=pid, provider="sandbox", next_sync_at=now)
                store_token(conn, SandboxProvider.token_for("plateau"), cipher_for(get_settings()))
                session.add(conn)

        assert sync_due_connections(now) == 2
        assert run_pending(now).evaluated == 2  # the sync marked both; one job run evaluates

        for pid in (seed.patient_a, seed.patient_b):
            days = db.session.scalar(select(func.count()).where(DailyActivity.patient_id == pid))
            assert days == 30
        assert [e.status for e in _evaluations(seed.patient_a)] == ["failed"]
        assert [(e.trigger, e.status) for e in _evaluations(seed.patient_b)] == [("activity", "ok")]
        assert len(_alerts()) == 1
        db.session.remove()
