"""Clinician alert use cases: list a clinic's alerts, acknowledge one."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, case, select
from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.accounts.models import User
from service.alerts.models import ClinicianAlert
from service.audit.service import record
from service.errors import NotFound

SEVERITY_ORDER = case({"urgent": 0, "warning": 1}, value=ClinicianAlert.severity, else_=2)


def _visible(principal: Principal) -> list[ColumnElement[bool]]:
    """Only the caller's clinic's alerts (admins: every clinic)."""
    if principal.role == "admin":
        return []
    return [ClinicianAlert.clinic_id == principal.clinic_id]


def list_alerts(
    session: Session,
    principal: Principal,
    open_only: bool | None,
    limit: int,
    *,
    unassigned: bool = False,
) -> list[ClinicianAlert]:
    """The caller's clinic's alerts (admins: every clinic), urgent first, newest first.

    `unassigned`: only alerts about patients without a clinic, which only admins see.
    """
    query = select(ClinicianAlert).where(*_visible(principal))
    if unassigned:
        query = query.where(ClinicianAlert.clinic_id.is_(None))
    if open_only is True:
        query = query.where(ClinicianAlert.acked_at.is_(None))
    elif open_only is False:
        query = query.where(ClinicianAlert.acked_at.is_not(None))
    query = query.order_by(
        SEVERITY_ORDER, ClinicianAlert.created_at.desc(), ClinicianAlert.id.desc()
    )
    return list(session.scalars(query.limit(limit)))


def queue(session: Session, principal: Principal, limit: int = 200) -> list[dict[str, Any]]:
    """Open alerts with their patient's email: most severe first, then the longest waiting."""
    query = (
        select(ClinicianAlert, User.email)
        .join(User, User.id == ClinicianAlert.patient_id)
        .where(ClinicianAlert.acked_at.is_(None), *_visible(principal))
        .order_by(SEVERITY_ORDER, ClinicianAlert.created_at, ClinicianAlert.id)
    )
    return [
        {
            "id": alert.id,
            "patient_id": alert.patient_id,
            "email": email,
            "severity": alert.severity,
            "message": alert.message,
            "rule_id": alert.rule_id,
            "created_at": alert.created_at,
        }
        for alert, email in session.execute(query.limit(limit))
    ]


def for_patient(session: Session, principal: Principal, patient_id: int) -> list[ClinicianAlert]:
    """A patient's open alerts, most severe first (the caller checked the patient is theirs)."""
    query = select(ClinicianAlert).where(
        ClinicianAlert.patient_id == patient_id,
        ClinicianAlert.acked_at.is_(None),
        *_visible(principal),
    )
    return list(session.scalars(query.order_by(SEVERITY_ORDER, ClinicianAlert.created_at)))


def acknowledge(
    session: Session, principal: Principal, alert_id: int, now: dt.datetime
) -> ClinicianAlert:
    """Mark an alert seen (idempotent: a second ack keeps the first one's time and author)."""
    alert = session.get(ClinicianAlert, alert_id)
    if alert is None or (principal.role != "admin" and alert.clinic_id != principal.clinic_id):
        raise NotFound("no such alert")
    if alert.acked_at is None:
        alert.acked_at = now
        alert.acked_by = principal.user_id
        record(
            session,
            principal,
            "alert.acknowledged",
            "clinician_alert",
            alert.id,
            {"patient_id": alert.patient_id, "rule_id": alert.rule_id},
        )
    return alert
