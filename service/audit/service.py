"""Audit trail: every clinician and admin action is recorded with who, what and which record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from service.audit.models import AuditEvent

if TYPE_CHECKING:
    from service.accounts.auth import Principal


def record(  # noqa: PLR0917 - the agreed call shape is positional
    session: Session,
    principal: Principal,
    action: str,
    target_type: str,
    target_id: object,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event for an action by `principal` (the caller's transaction commits it)."""
    event = AuditEvent(
        clinic_id=principal.clinic_id,
        actor_id=principal.user_id,
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=dict(details or {}),
    )
    session.add(event)
    return event
