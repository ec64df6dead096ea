"""The mappers, in Bundle order: one per kind of record, registered in `MAPPERS`.

A new kind of record (safety episodes as Flag, PEG answers as QuestionnaireResponse) is a new
`Mapper` subclass in this package and one line in `MAPPERS`; bundles, bulk export and its
`_type` filter pick it up from here.
"""

from __future__ import annotations

from collections.abc import Iterable

from service.fhir.mapping.activity import DeviceMapper, StepsMapper
from service.fhir.mapping.base import Mapper, Scope
from service.fhir.mapping.goals import GoalMapper
from service.fhir.mapping.pain import PainMapper
from service.fhir.mapping.patients import OrganizationMapper, PatientMapper
from service.fhir.mapping.tips import CommunicationMapper

MAPPERS: tuple[Mapper, ...] = (
    OrganizationMapper(),
    PatientMapper(),
    DeviceMapper(),
    StepsMapper(),
    PainMapper(),
    GoalMapper(),
    CommunicationMapper(),
)
RESOURCE_TYPES: tuple[str, ...] = tuple(dict.fromkeys(m.resource_type for m in MAPPERS))


def mappers_for(types: Iterable[str]) -> list[Mapper]:
    """The mappers producing the given resource types, in registry order."""
    wanted = set(types)
    return [mapper for mapper in MAPPERS if mapper.resource_type in wanted]


__all__ = ["MAPPERS", "RESOURCE_TYPES", "Mapper", "Scope", "mappers_for"]
