"""Ports: what a lower package may ask of a higher one, wired once at app creation.

Storing a report, an upload or a new patient must trigger the rules, but `service.evaluation`
sits above the packages that store them (it reads their tables), so they may not import it
(import-linter holds the packages acyclic). They call the port instead; `create_app` plugs
`service.evaluation.hooks` into it, and every process (gunicorn worker, scheduler, CLI) is
built by `create_app`. The hooks work in the caller's session; the caller's route or job owns
the transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session

if TYPE_CHECKING:  # annotations only: the port imports no resource package at run time
    from service.patients.models import PatientProfile
    from service.plans.models import Plan
    from service.tips.models import WrittenTip


class EvaluationHooks(Protocol):
    """What new data asks of the evaluation (implemented by `service.evaluation.hooks`)."""

    def after_pain_report(
        self, session: Session, patient_id: int, now: dt.datetime
    ) -> list[WrittenTip]:
        """Evaluate at once after a pain report; return the tips it created."""

    def after_exercise_report(
        self, session: Session, patient_id: int, now: dt.datetime
    ) -> list[WrittenTip]:
        """Evaluate at once after an exercise report; return the tips it created."""

    def after_activity(self, session: Session, patient_ids: list[int], now: dt.datetime) -> None:
        """Activity data arrived for these patients (trigger `activity`)."""

    def enrol_patient(self, session: Session, profile: PatientProfile, now: dt.datetime) -> Plan:
        """Give a new patient their plan and first decision time."""

    def reschedule(self, session: Session, profile: PatientProfile, now: dt.datetime) -> None:
        """Recompute the patient's next decision time (zone or rule set changed)."""


_evaluation: EvaluationHooks | None = None


def plug_evaluation(hooks: EvaluationHooks) -> None:
    """Connect the evaluation port (called by `create_app`)."""
    global _evaluation  # noqa: PLW0603 - one process-wide wiring, set before any request
    _evaluation = hooks


def evaluation() -> EvaluationHooks:
    """The evaluation hooks this process was built with."""
    if _evaluation is None:
        raise RuntimeError("the evaluation port is not plugged: build the app with create_app")
    return _evaluation
