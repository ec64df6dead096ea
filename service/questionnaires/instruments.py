"""Instruments a clinic can ask: the built-in ones and the clinic's own YAML (SPEC §11.4).

A clinic's instrument is validated like a rule set (`rules.instruments.load_instrument`:
line, column and path for every problem) and stored as written; it is parsed again when read
(a handful of small documents per request at most).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rules.instruments import BUILTIN, Instrument, InstrumentError, load_instrument
from service.accounts.auth import Principal
from service.audit.service import record
from service.errors import Conflict, Forbidden, Invalid
from service.questionnaires.models import ClinicInstrument


def instrument_ids(session: Session, clinic_id: int | None) -> set[str]:
    """The ids an `ask` may name for this clinic: the built-in ones and the clinic's own."""
    own: set[str] = set()
    if clinic_id is not None:
        own = set(
            session.scalars(
                select(ClinicInstrument.instrument).where(ClinicInstrument.clinic_id == clinic_id)
            )
        )
    return set(BUILTIN) | own


def find(session: Session, clinic_id: int | None, instrument_id: str) -> Instrument | None:
    """The instrument with this id for a patient of this clinic (None: unknown)."""
    if instrument_id in BUILTIN:
        return BUILTIN[instrument_id]
    if clinic_id is None:
        return None
    text = session.scalar(
        select(ClinicInstrument.yaml_text).where(
            ClinicInstrument.clinic_id == clinic_id, ClinicInstrument.instrument == instrument_id
        )
    )
    return load_instrument(text) if text is not None else None


def clinic_instruments(session: Session, clinic_id: int | None) -> list[Instrument]:
    """Every instrument the clinic can ask, built-in first."""
    own: list[Instrument] = []
    if clinic_id is not None:
        texts = session.scalars(
            select(ClinicInstrument.yaml_text)
            .where(ClinicInstrument.clinic_id == clinic_id)
            .order_by(ClinicInstrument.instrument)
        )
        own = [load_instrument(text) for text in texts]
    return [*BUILTIN.values(), *own]


def check(text: str) -> Instrument:
    """Load an instrument's YAML; raise Invalid with `{line, column, path, message}` errors."""
    try:
        return load_instrument(text, source="upload")
    except InstrumentError as exc:
        errors = [issue.as_dict() for issue in exc.errors]
        first = exc.errors[0] if exc.errors else None
        detail = "invalid instrument"
        if first is not None:
            where = f"{first.path}: " if first.path else ""
            detail = f"line {first.line}, column {first.column}: {where}{first.message}"
        raise Invalid(detail, errors=errors) from None


def add(session: Session, principal: Principal, text: str, now: dt.datetime) -> Instrument:
    """Store a new instrument for the clinician's clinic (ids are never reused: 409)."""
    if principal.clinic_id is None:
        raise Forbidden("only a clinic's staff can add its instruments")
    instrument = check(text)
    row = ClinicInstrument(
        clinic_id=principal.clinic_id,
        instrument=instrument.id,
        title=instrument.title,
        yaml_text=text,
        created_at=now,
        created_by=principal.user_id,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(f"the clinic already has an instrument '{instrument.id}'") from None
    record(session, principal, "instrument.add", "instrument", row.id, {"id": instrument.id})
    return instrument


def view(instrument: Instrument) -> dict[str, Any]:
    """An instrument as the API shows it: items with their anchored scales, and the scoring."""
    return {
        "id": instrument.id,
        "title": instrument.title,
        "intro": instrument.intro,
        "builtin": instrument.id in BUILTIN,
        "scoring": {"method": instrument.method, "decimals": instrument.decimals},
        "items": [
            {
                "id": item.id,
                "text": item.text,
                "scale": {
                    "low": item.low,
                    "high": item.high,
                    "low_label": item.low_label,
                    "high_label": item.high_label,
                },
            }
            for item in instrument.items
        ],
    }
