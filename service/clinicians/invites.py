"""Reading invites back: the clinic's recent ones, and one code with its QR code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.accounts.auth import Principal
from service.accounts.models import Invite
from service.errors import NotFound
from service.rulesets.models import RuleSet

RECENT = dt.timedelta(days=30)


def _status(invite: Invite, now: dt.datetime) -> str:
    if invite.used_at is not None:
        return "used"
    return "expired" if invite.expires_at <= now else "open"


def _view(invite: Invite, slug: str | None, now: dt.datetime) -> dict[str, Any]:
    return {
        "code": invite.code,
        "created_at": invite.created_at,
        "expires_at": invite.expires_at,
        "used_at": invite.used_at,
        "ruleset": slug,
        "status": _status(invite, now),
    }


def recent_invites(
    session: Session, principal: Principal, now: dt.datetime
) -> list[dict[str, Any]]:
    """The caller's clinic's invites of the last 30 days, newest first (admins: every clinic)."""
    query = (
        select(Invite, RuleSet.slug)
        .outerjoin(RuleSet, RuleSet.id == Invite.ruleset_id)
        .where(Invite.created_at >= now - RECENT)
        .order_by(Invite.created_at.desc())
        .limit(50)
    )
    if principal.role != "admin":
        query = query.where(Invite.clinic_id == principal.clinic_id)
    return [_view(invite, slug, now) for invite, slug in session.execute(query)]


def invite_card(
    session: Session, principal: Principal, code: str, now: dt.datetime
) -> dict[str, Any]:
    """One of the clinic's invites with an SVG QR code of its code for the patient's phone."""
    row = session.execute(
        select(Invite, RuleSet.slug)
        .outerjoin(RuleSet, RuleSet.id == Invite.ruleset_id)
        .where(Invite.code == code)
    ).first()
    if row is None or (principal.role != "admin" and row[0].clinic_id != principal.clinic_id):
        raise NotFound("no such invite in your clinic")
    invite, slug = row
    qr = segno.make(invite.code, error="m").svg_inline(
        scale=6, light="#ffffff", title=f"QR code of the invite code {invite.code}"
    )
    return _view(invite, slug, now) | {"qr_svg": qr}
