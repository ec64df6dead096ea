"""Code systems, codes and labels the FHIR resources use, in one place.

LOINC and UCUM codes are the international ones; `urn:backstride:...` systems are ours (the
programme's own vocabularies), each code carried with a readable display.
"""

from __future__ import annotations

from typing import Any

from service.patients.models import SOURCE_TITLES

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
GOAL_CATEGORY = "http://terminology.hl7.org/CodeSystem/goal-category"
COMMUNICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
LANGUAGE = "urn:ietf:bcp:47"

STEPS_LOINC = ("41950-7", "Number of steps in 24 hour Measured")
PAIN_LOINC = ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
STEPS_PER_DAY = {"unit": "steps/day", "system": UCUM, "code": "/d"}
SCORE = {"unit": "{score}", "system": UCUM, "code": "{score}"}

RED_FLAG_SYSTEM = "urn:backstride:codesystem:red-flag"
TIP_CATEGORY_SYSTEM = "urn:backstride:codesystem:tip-category"
STEP_SOURCE_SYSTEM = "urn:backstride:codesystem:step-source"
PLAN_REASON_SYSTEM = "urn:backstride:codesystem:plan-change-reason"

# Clinician-facing wording of the red-flag symptoms a patient can report.
RED_FLAGS = {
    "numbness_saddle": "Numbness in the saddle area (between the legs or around the bottom)",
    "bladder_bowel_change": "New change in bladder or bowel control",
    "leg_weakness": "New or worsening weakness in the legs",
    "fever": "Fever with the back pain",
    "unexplained_weight_loss": "Weight loss without a known reason",
    "trauma": "Back pain after a fall or injury",
    "night_pain": "Pain at night that does not ease with rest",
}
TIP_CATEGORIES = {
    "pain": "Pain",
    "progression": "Step progression",
    "strength": "Strength exercise",
    "form": "Walking form",
    "flexibility": "Flexibility",
    "footwear": "Footwear",
    "checkin": "Check-in",
    "safety": "Safety",
    "general": "General",
    "clinician": "Message from the care team",
}
SOURCES = SOURCE_TITLES  # phone uploads and every wearable provider (their one registry)


def coding(system: str, code: str, display: str) -> dict[str, Any]:
    """A Coding."""
    return {"system": system, "code": code, "display": display}


def concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    """A CodeableConcept with one coding and readable text."""
    return {"coding": [coding(system, code, display)], "text": text or display}


def loinc(code_display: tuple[str, str]) -> dict[str, Any]:
    """A LOINC CodeableConcept."""
    code, display = code_display
    return concept(LOINC, code, display)


def label(table: dict[str, str], code: str) -> str:
    """The display of a code, or the code made readable when it is not in the table."""
    return table.get(code) or code.replace("_", " ").capitalize()


def observation_category(code: str, display: str) -> dict[str, Any]:
    """An Observation.category from the HL7 observation-category code system."""
    return concept(OBSERVATION_CATEGORY, code, display)
