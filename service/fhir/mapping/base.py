"""What every mapper shares: the scope of an export, streamed reads, FHIR dates and instants.

A mapper turns one kind of stored record into FHIR resources of one type. It reads with one
set-based query over the scope (one patient, or a whole clinic) and yields resources as the rows
stream in, so memory stays flat however large the clinic is.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Select
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from service.fhir.ids import Refs, shared_id
from service.patients.models import PatientProfile

AnySelect = Select[*tuple[Any, ...]]
AnyRow = Row[*tuple[Any, ...]]
Q = TypeVar("Q", bound=AnySelect)
# Rows fetched per round trip; PostgreSQL reads them through a server-side cursor.
YIELD_PER = 2000


@dataclass(frozen=True)
class Scope:
    """What to export: a clinic's patients (or one of them), optionally a window of local days."""

    clinic_id: int
    now: dt.datetime
    patient_id: int | None = None
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    # The window as instants (for timestamped records); only set for one patient's bundle.
    start: dt.datetime | None = None
    end: dt.datetime | None = None

    def patients(self, query: Q, patient_column: Any) -> Q:
        """Restrict a query to the scope's patients (joined through their profile)."""
        if patient_column.table is not PatientProfile.__table__:
            query = query.select_from(patient_column.table).join(
                PatientProfile, PatientProfile.user_id == patient_column
            )
        query = query.where(PatientProfile.clinic_id == self.clinic_id)
        if self.patient_id is not None:
            query = query.where(patient_column == self.patient_id)
        return query

    def instants(self, query: Q, column: Any) -> Q:
        """Restrict a query to records timestamped inside the window."""
        if self.start is not None:
            query = query.where(column >= self.start)
        if self.end is not None:
            query = query.where(column < self.end)
        return query

    def days(self, query: Q, column: Any) -> Q:
        """Restrict a query to records of local days inside the window."""
        if self.first_day is not None:
            query = query.where(column >= self.first_day)
        if self.last_day is not None:
            query = query.where(column <= self.last_day)
        return query


class Mapper(ABC):
    """Stored records of one kind -> FHIR resources of `resource_type`."""

    resource_type: ClassVar[str]

    @abstractmethod
    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield the scope's resources, streaming the rows."""


def stream(session: Session, query: AnySelect) -> Iterator[AnyRow]:
    """Rows of a query, fetched in batches (a server-side cursor on PostgreSQL)."""
    yield from session.execute(query.execution_options(yield_per=YIELD_PER))


def zone(name: str) -> zoneinfo.ZoneInfo:
    """A patient's zone (cached by zoneinfo)."""
    return zoneinfo.ZoneInfo(name)


def instant(value: dt.datetime, tz: zoneinfo.ZoneInfo | None = None) -> str:
    """A FHIR instant/dateTime with its offset, in the patient's zone when known."""
    local = value.astimezone(tz) if tz is not None else value.astimezone(dt.UTC)
    return local.isoformat(timespec="seconds")


def day_period(day: dt.date, tz: zoneinfo.ZoneInfo) -> dict[str, str]:
    """A local calendar day as a Period (local midnight to the next, with offsets)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return {"start": start.isoformat(timespec="seconds"), "end": end.isoformat(timespec="seconds")}


def thousands(value: int) -> str:
    """A whole number as people write it (4,000)."""
    return f"{value:,}"


def long_date(day: dt.date) -> str:
    """A date as people write it (12 May 2025)."""
    return f"{day.day} {day:%B %Y}"


def patient_ref(refs: Refs, clinic_id: int, patient_id: int) -> dict[str, Any]:
    """The Reference to a patient's Patient resource."""
    return refs.to("Patient", shared_id(clinic_id, "patient", patient_id))
