"""Inbox use cases: list tips (keyset pages), mark read or opened, record feedback."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from sqlalchemy import Executable, bindparam, select, tuple_, update
from sqlalchemy.orm import Session

from service.errors import NotFound, ServiceError
from service.inputs import MAX_ID, date_problem
from service.tips.models import Tip

MAX_CURSOR = 200


class InvalidCursor(ServiceError):
    """A cursor this service did not hand out."""

    status = 400
    title = "Bad request"


# The inbox reads plain rows rather than ORM objects: it is the hottest read of the app.
TIP_COLUMNS = (
    Tip.id,
    Tip.rule_id,
    Tip.category,
    Tip.title,
    Tip.text,
    Tip.created_at,
    Tip.read_at,
    Tip.why,
    Tip.urgent,
    Tip.asks,
    Tip.helpful,
    Tip.done,
)


def tip_view(tip: Any) -> dict[str, Any]:
    """A tip (model or row) as the inbox and a report's response show it."""
    return {
        "id": tip.id,
        "rule_id": tip.rule_id,
        "category": tip.category,
        "title": tip.title,
        "text": tip.text,
        "created_at": tip.created_at,
        "read_at": tip.read_at,
        "why": tip.why,
        "urgent": tip.urgent,
        "asks": tip.asks,
        "helpful": tip.helpful,
        "done": tip.done,
    }


def tip_json(tip: Any) -> dict[str, Any]:
    """`tip_view` with timestamps as ISO 8601 strings, ready for json.dumps."""
    view = tip_view(tip)
    view["created_at"] = tip.created_at.isoformat()
    view["read_at"] = tip.read_at.isoformat() if tip.read_at else None
    return view


def encode_cursor(tip: Any) -> str:
    """An opaque pointer just past this tip in newest-first order."""
    raw = json.dumps([tip.created_at.isoformat(), tip.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """Read a cursor back; anything malformed is a 400 naming the parameter."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("cursor too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, tip_id = json.loads(raw)
        created_at = dt.datetime.fromisoformat(created)
        # Only what encode_cursor writes: an aware time in range and a row id (not a bool).
        if created_at.tzinfo is None or date_problem(created_at) is not None:
            raise ValueError("bad cursor time")
        if type(tip_id) is not int or not 1 <= tip_id <= MAX_ID:
            raise ValueError("bad cursor id")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursor(
            "cursor: not a cursor this API returned",
            errors=[{"field": "cursor", "message": "invalid cursor", "in": "query"}],
        ) from exc
    return created_at, tip_id


def _page_statement(unread: bool | None, after_cursor: bool) -> Executable:
    query = select(*TIP_COLUMNS).where(Tip.patient_id == bindparam("patient_id"))
    if unread is True:
        query = query.where(Tip.read_at.is_(None))
    elif unread is False:
        query = query.where(Tip.read_at.is_not(None))
    if after_cursor:
        # Keyset pagination: stable under inserts, and an index range scan on (created_at, id).
        query = query.where(
            tuple_(Tip.created_at, Tip.id)
            < tuple_(bindparam("created_at", type_=Tip.created_at.type), bindparam("tip_id"))
        )
    return query.order_by(Tip.created_at.desc(), Tip.id.desc()).limit(bindparam("limit"))


# Built once: constructing the statement cost as much as running it on every inbox read.
_PAGES = {
    (unread, after): _page_statement(unread, after)
    for unread in (None, True, False)
    for after in (False, True)
}


def list_tips(
    session: Session, patient_id: int, *, unread: bool | None, cursor: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """A page of the patient's tips (rows), newest first, and the cursor of the next page."""
    params: dict[str, Any] = {"patient_id": patient_id, "limit": limit + 1}
    if cursor:
        params["created_at"], params["tip_id"] = decode_cursor(cursor)
    # On the session's connection: the ORM's execute adds a third to this query's cost.
    tips = list(session.connection().execute(_PAGES[(unread, bool(cursor))], params))
    if len(tips) > limit:
        return tips[:limit], encode_cursor(tips[limit - 1])
    return tips, None


def _own_tip(session: Session, patient_id: int, tip_id: int) -> Tip:
    tip = session.scalar(select(Tip).where(Tip.id == tip_id, Tip.patient_id == patient_id))
    if tip is None:
        raise NotFound("no such tip")
    return tip


def _mark(session: Session, patient_id: int, tip_id: int, **values: Any) -> Tip:
    """Set timestamps only where still empty: the first read (or open) is the one kept."""
    tip = _own_tip(session, patient_id, tip_id)
    for column, value in values.items():
        session.execute(
            update(Tip)
            .where(Tip.id == tip_id, getattr(Tip, column).is_(None))
            .values({column: value})
            .execution_options(synchronize_session=False)
        )
    session.refresh(tip)
    return tip


def mark_read(session: Session, patient_id: int, tip_id: int, now: dt.datetime) -> Tip:
    """Mark a tip read (idempotent)."""
    return _mark(session, patient_id, tip_id, read_at=now)


def mark_opened(session: Session, patient_id: int, tip_id: int, now: dt.datetime) -> Tip:
    """Note that the patient opened the tip's push (which also reads it)."""
    return _mark(session, patient_id, tip_id, opened_at=now, read_at=now)


def give_feedback(
    session: Session,
    patient_id: int,
    tip_id: int,
    *,
    helpful: bool,
    done: bool | None,
    now: dt.datetime,
) -> Tip:
    """Record whether the tip helped (and was done); feedback implies it was read."""
    tip = _mark(session, patient_id, tip_id, read_at=now)
    tip.helpful = helpful
    if done is not None:
        tip.done = done
    tip.feedback_at = now
    session.flush()
    return tip
