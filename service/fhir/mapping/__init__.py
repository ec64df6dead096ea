"""The mappers, in Bundle order: one per kind of record, registered in `MAPPERS`.

A new kind of record is a new `Mapper` subclass in this package and one line in `MAPPERS`;
bundles, bulk export and its `_type` filter pick it up from here (questionnaires and their
answers: `questionnaires`; safety episodes as Flag: `safety`).
"""

from __future__ import annotations

from collections.abc import Iterable

from service.fhir.mapping.activity import DeviceMapper, StepsMapper
from service.fhir.mapping.base import Mapper, Scope
from service.fhir.mapping.goals import GoalMapper
from service.fhir.mapping.pain import PainMapper
from service.fhir.mapping.patients import OrganizationMapper, PatientMapper
from service.fhir.mapping.questionnaires import QuestionnaireMapper, QuestionnaireResponseMapper
from service.fhir.mapping.safety import FlagMapper
from service.fhir.mapping.tips import CommunicationMapper

MAPPERS: tuple[Mapper, ...] = (
    OrganizationMapper(),
    PatientMapper(),
    DeviceMapper(),
    StepsMapper(),
    PainMapper(),
    QuestionnaireMapper(),
    QuestionnaireResponseMapper(),
    GoalMapper(),
    CommunicationMapper(),
    FlagMapper(),
)
RESOURCE_TYPES: tuple[str, ...] = tuple(dict.fromkeys(m.resource_type for m in MAPPERS))


def mappers_for(types: Iterable[str]) -> list[Mapper]:
    """The mappers producing the given resource types, in registry order."""
    wanted = set(types)
    return [mapper for mapper in MAPPERS if mapper.resource_type in wanted]


__all__ = ["MAPPERS", "RESOURCE_TYPES", "Mapper", "Scope", "mappers_for"]
