"""Clinician alert use cases: list a clinic's alerts, acknowledge one."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from service.alerts.models import ClinicianAlert
from service.audit.service import record
from service.auth import Principal
from service.errors import NotFound


def list_alerts(
    session: Session, principal: Principal, open_only: bool | None, limit: int
) -> list[ClinicianAlert]:
    """The caller's clinic's alerts (admins: every clinic), urgent first, newest first."""
    query = select(ClinicianAlert)
    if principal.role != "admin":
        query = query.where(ClinicianAlert.clinic_id == principal.clinic_id)
    if open_only is True:
        query = query.where(ClinicianAlert.acked_at.is_(None))
    elif open_only is False:
        query = query.where(ClinicianAlert.acked_at.is_not(None))
    severity = case({"urgent": 0, "warning": 1}, value=ClinicianAlert.severity, else_=2)
    query = query.order_by(severity, ClinicianAlert.created_at.desc(), ClinicianAlert.id.desc())
    return list(session.scalars(query.limit(limit)))


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
