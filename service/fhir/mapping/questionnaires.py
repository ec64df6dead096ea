"""Questionnaires as FHIR: the instruments as `Questionnaire`, answers as `QuestionnaireResponse`.

A Questionnaire is published for every instrument the scope has answers to (the built-in PEG,
and a clinic's own instruments), with a canonical `url` and `version`; each response names it by
that canonical (`questionnaire`), so a receiving record can resolve it whether or not the
Questionnaire travels in the same export. Items are integers with `minValue`/`maxValue`
extensions and the anchors in the text; the score is a read-only `decimal` item (`score`),
answered in every response, so the number the programme's rules read is in the record too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.instruments import BUILTIN, Instrument
from service.fhir.ids import Refs, resource_id
from service.fhir.mapping.base import Mapper, Scope, instant, patient_ref, stream, zone
from service.patients.models import PatientProfile
from service.questionnaires.instruments import find
from service.questionnaires.models import QuestionnaireResponse

MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
SCORE_ITEM = "score"
PEG_CITATION = (
    "Krebs EE et al. Development and initial validation of the PEG, a three-item scale "
    "assessing pain intensity and interference. J Gen Intern Med 2009;24(6):733-738."
)


def canonical(clinic_id: int, instrument_id: str) -> str:
    """The canonical URL of an instrument's Questionnaire (built-in ones are shared)."""
    if instrument_id in BUILTIN:
        return f"urn:backstride:questionnaire:{instrument_id}"
    return f"urn:backstride:clinic:{clinic_id}:questionnaire:{instrument_id}"


def _name(instrument_id: str) -> str:
    """A computable name (FHIR's que-0: starts upper case, letters, digits, underscores)."""
    return "".join(part.capitalize() for part in instrument_id.split("-")) or "Questionnaire"


def _score_text(instrument: Instrument) -> str:
    how = "mean" if instrument.method == "mean" else "sum"
    return f"{instrument.title} score ({how} of the items)"


def questionnaire(clinic_id: int, instrument: Instrument) -> dict[str, Any]:
    """The Questionnaire of one instrument."""
    items: list[dict[str, Any]] = [
        {
            "linkId": item.id,
            "text": f"{item.text} ({item.low} = {item.low_label}, {item.high} = {item.high_label})",
            "type": "integer",
            "required": True,
            "extension": [
                {"url": MIN_VALUE, "valueInteger": item.low},
                {"url": MAX_VALUE, "valueInteger": item.high},
            ],
        }
        for item in instrument.items
    ]
    items.append(
        {"linkId": SCORE_ITEM, "text": _score_text(instrument), "type": "decimal", "readOnly": True}
    )
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": resource_id(clinic_id, "questionnaire", instrument.id, instrument.version),
        "url": canonical(clinic_id, instrument.id),
        "version": instrument.version,
        "name": _name(instrument.id),
        "title": instrument.title,
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": "Backstride" if instrument.id in BUILTIN else "The clinic",
        "item": items,
    }
    if instrument.intro:
        resource["description"] = instrument.intro
    if instrument.id == "peg":
        resource["copyright"] = (
            "Items reworded from the PEG scale; cite the original: " + PEG_CITATION
        )
    return resource


class _Instruments:
    """Instrument definitions of one export, each read once per clinic."""

    def __init__(self, session: Session, clinic_id: int) -> None:
        self.session = session
        self.clinic_id = clinic_id
        self.found: dict[str, Instrument | None] = {}

    def get(self, instrument_id: str) -> Instrument | None:
        if instrument_id not in self.found:
            self.found[instrument_id] = find(self.session, self.clinic_id, instrument_id)
        return self.found[instrument_id]


class QuestionnaireMapper(Mapper):
    """Every instrument the scope's patients have answered, as a Questionnaire."""

    resource_type = "Questionnaire"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield one Questionnaire per instrument answered in the scope."""
        query = scope.patients(
            select(QuestionnaireResponse.instrument).distinct(),
            QuestionnaireResponse.patient_id,
        )
        query = scope.instants(query, QuestionnaireResponse.answered_at)
        instruments = _Instruments(session, scope.clinic_id)
        for instrument_id in sorted(session.scalars(query)):
            instrument = instruments.get(instrument_id)
            if instrument is not None:
                yield questionnaire(scope.clinic_id, instrument)


class QuestionnaireResponseMapper(Mapper):
    """A patient's answers to a questionnaire, with its score."""

    resource_type = "QuestionnaireResponse"

    def resources(self, session: Session, scope: Scope, refs: Refs) -> Iterator[dict[str, Any]]:
        """Yield the scope's responses."""
        query = scope.patients(
            select(
                QuestionnaireResponse.id,
                QuestionnaireResponse.patient_id,
                QuestionnaireResponse.instrument,
                QuestionnaireResponse.answers,
                QuestionnaireResponse.score,
                QuestionnaireResponse.answered_at,
                PatientProfile.timezone,
            ),
            QuestionnaireResponse.patient_id,
        )
        query = scope.instants(query, QuestionnaireResponse.answered_at).order_by(
            QuestionnaireResponse.patient_id,
            QuestionnaireResponse.answered_at,
            QuestionnaireResponse.id,
        )
        instruments = _Instruments(session, scope.clinic_id)
        for row in stream(session, query):
            instrument = instruments.get(row.instrument)
            if instrument is None:
                continue
            patient = patient_ref(refs, scope.clinic_id, row.patient_id)
            items: list[dict[str, Any]] = [
                {
                    "linkId": item.id,
                    "text": item.text,
                    "answer": [{"valueInteger": row.answers[item.id]}],
                }
                for item in instrument.items
                if item.id in row.answers
            ]
            items.append(
                {
                    "linkId": SCORE_ITEM,
                    "text": _score_text(instrument),
                    "answer": [{"valueDecimal": row.score}],
                }
            )
            yield {
                "resourceType": "QuestionnaireResponse",
                "id": resource_id(scope.clinic_id, "questionnaire-response", row.id),
                "meta": {"lastUpdated": instant(row.answered_at)},
                "questionnaire": f"{canonical(scope.clinic_id, instrument.id)}|"
                f"{instrument.version}",
                "status": "completed",
                "subject": patient,
                "authored": instant(row.answered_at, zone(row.timezone)),
                "author": patient,
                "source": patient,
                "item": items,
            }
