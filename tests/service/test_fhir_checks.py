"""The pieces the FHIR tests lean on: stable ids, local-day periods, and validators that fail."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from service.fhir.ids import NAMESPACE, resource_id
from service.fhir.mapping.base import day_period
from tests.support.fhir import bundle_errors, loinc_check_digit_ok, ndjson_errors

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "identifier": [{"system": "urn:backstride:clinic:1:patient", "value": "1"}],
}
STEPS = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {
        "coding": [
            {
                "system": "http://loinc.org",
                "code": "41950-7",
                "display": "Number of steps in 24 hour Measured",
            }
        ]
    },
    "subject": {"reference": "urn:uuid:p1"},
    "valueQuantity": {
        "value": 4000, "unit": "steps/day", "system": "http://unitsofmeasure.org", "code": "/d",
    },
}  # fmt: skip


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }


def test_it_derives_ids_exactly_as_uuid5() -> None:
    for clinic, kind, key in [(1, "patient", (4,)), (7, "steps", (3, "2026-01-31"))]:
        name = ":".join(["clinic", str(clinic), kind, *map(str, key)])
        assert resource_id(clinic, kind, *key) == str(uuid.uuid5(NAMESPACE, name))
    assert resource_id(1, "patient", 4) != resource_id(2, "patient", 4)


def test_it_makes_a_dst_day_23_hours_long() -> None:
    period = day_period(dt.date(2026, 3, 29), ZoneInfo("Europe/London"))
    assert period == {"start": "2026-03-29T00:00:00+00:00", "end": "2026-03-30T00:00:00+01:00"}


def test_it_knows_loinc_check_digits() -> None:
    assert [loinc_check_digit_ok(c) for c in ("41950-7", "72514-3", "8867-4")] == [True] * 3
    assert [loinc_check_digit_ok(c) for c in ("41950-6", "72514-0", "abc-1")] == [False] * 3


def test_it_accepts_a_valid_bundle() -> None:
    assert bundle_errors(_bundle(PATIENT, STEPS)) == []


def test_it_finds_what_is_wrong_with_a_bundle() -> None:
    broken = {
        ("status",): "bogus",  # not in the required value set (schema)
        ("valueQuantity", "code"): "steps per day",  # not UCUM
        ("code", "coding", 0, "code"): "41950-6",  # LOINC check digit
        ("subject", "reference"): "urn:uuid:nobody",  # dangling
        ("valueQuantity", "value"): "many",  # not a decimal (schema and model)
    }
    for path, value in broken.items():
        observation = copy.deepcopy(STEPS)
        target: Any = observation
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        assert bundle_errors(_bundle(PATIENT, observation)), path


def test_it_finds_dangling_references_between_ndjson_files() -> None:
    observation = copy.deepcopy(STEPS)
    observation["subject"] = {"reference": "Patient/p2"}
    files = {"Patient": '{"resourceType":"Patient","id":"p1"}\n'}
    files["Observation"] = json.dumps(observation) + "\n"
    assert ndjson_errors(files) == ["Observation: dangling Patient/p2"]
    observation["subject"] = {"reference": "Patient/p1"}
    files["Observation"] = json.dumps(observation) + "\n"
    assert ndjson_errors(files) == []
