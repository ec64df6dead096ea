"""Independent checks of FHIR output: the official R4 JSON schema, the fhir.resources models,
LOINC check digits, UCUM grammar, and references that resolve.

Nothing here trusts the service's own idea of FHIR: the schema is HL7's, the models are a
maintained third-party library (R4B, structurally R4 for these resources), the UCUM parser is
ucumvert's grammar of the UCUM specification.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from jsonschema import Draft6Validator
from ucumvert import get_ucum_parser

SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "fhir" / "fhir.schema.json.gz"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
# The LOINC long common names of the codes we emit (loinc.org), and the observation-category
# codes of FHIR R4 (terminology.hl7.org).
LOINC_NAMES = {
    "41950-7": "Number of steps in 24 hour Measured",
    "72514-3": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
}
OBSERVATION_CATEGORIES = {
    "social-history", "vital-signs", "imaging", "laboratory", "procedure", "survey", "exam",
    "therapy", "activity",
}  # fmt: skip


@functools.cache
def _schema() -> dict[str, Any]:
    with gzip.open(SCHEMA) as handle:
        schema: dict[str, Any] = json.load(handle)
    return schema


@functools.cache
def _validator(resource_type: str) -> Draft6Validator:
    """A validator of one resource type (the schema's definition of it, not the big oneOf)."""
    schema = _schema()
    return Draft6Validator(
        {"$ref": f"#/definitions/{resource_type}", "definitions": schema["definitions"]}
    )


def schema_errors(resource: dict[str, Any]) -> list[str]:
    """What the official R4 JSON schema finds wrong with a resource."""
    validator = _validator(resource["resourceType"])
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message[:200]}"
        for error in validator.iter_errors(resource)
    ]


def model_errors(resource: dict[str, Any]) -> list[str]:
    """What the fhir.resources (R4B) model finds wrong with a resource."""
    model = get_fhir_model_class(resource["resourceType"])
    try:
        model.model_validate(resource)
    except Exception as exc:  # pydantic's ValidationError, reported as text
        return [str(exc)[:2000]]
    return []


def loinc_check_digit_ok(code: str) -> bool:
    """LOINC's mod-10 check digit (the LOINC Users' Guide algorithm)."""
    body, _, check = code.partition("-")
    if not (body.isdigit() and check.isdigit() and len(check) == 1):
        return False
    digits = body[::-1]
    odd = int(digits[0::2][::-1]) * 2
    even = digits[1::2][::-1]
    total = sum(int(d) for d in f"{even}{odd}")
    return (10 - total % 10) % 10 == int(check)


def walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) inside a JSON value, depth first; list items come with the list's key."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield name, item
            yield from walk(item, name)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield key, item
            yield from walk(item, key)


def code_errors(resource: dict[str, Any]) -> list[str]:
    """Codes that are not what their system says: LOINC, UCUM, observation categories."""
    errors = []
    parser = get_ucum_parser()
    for key, value in walk(resource):
        if not isinstance(value, dict):
            continue
        system, code = value.get("system"), value.get("code")
        if system == LOINC:
            if not loinc_check_digit_ok(code) or LOINC_NAMES.get(code) != value.get("display"):
                errors.append(f"{key}: LOINC {code} {value.get('display')!r}")
        elif system == UCUM:
            try:
                parser.parse(code)
            except Exception:  # lark's parse errors
                errors.append(f"{key}: not a UCUM unit {code!r}")
        elif system == OBSERVATION_CATEGORY and code not in OBSERVATION_CATEGORIES:
            errors.append(f"{key}: not an observation category {code!r}")
    return errors


def resource_errors(resource: dict[str, Any]) -> list[str]:
    """Everything the independent checks find wrong with one resource."""
    return schema_errors(resource) + model_errors(resource) + code_errors(resource)


def references(resource: dict[str, Any]) -> list[str]:
    """Every `reference` a resource makes."""
    return [value for key, value in walk(resource) if key == "reference"]


def bundle_errors(bundle: dict[str, Any]) -> list[str]:
    """The Bundle against the schema and model, every resource, fullUrls, and references."""
    errors = schema_errors(bundle) + model_errors(bundle)
    entries = bundle.get("entry", [])
    urls = [entry["fullUrl"] for entry in entries]
    if len(set(urls)) != len(urls):
        errors.append("duplicate fullUrl")
    for entry in entries:
        resource = entry["resource"]
        if entry["fullUrl"] != f"urn:uuid:{resource['id']}":
            errors.append(f"fullUrl {entry['fullUrl']} does not name {resource['id']}")
        errors.extend(f"{resource['resourceType']}: {e}" for e in resource_errors(resource))
        errors.extend(
            f"{resource['resourceType']}: dangling {ref}"
            for ref in references(resource)
            if ref not in set(urls)
        )
    return errors


def ndjson_errors(files: dict[str, str], *, partial: bool = False) -> list[str]:
    """NDJSON files by type: one valid resource of that type per line, references resolve.

    `partial`: an export of some types only (`_type`); references to other types are not
    checked, references to the exported types must still resolve.
    """
    errors = []
    resources = []
    for resource_type, text in files.items():
        lines = text.splitlines()
        if not text.endswith("\n") or any(not line.strip() for line in lines):
            errors.append(f"{resource_type}: not one resource per line")
        for line in lines:
            resource = json.loads(line)
            if resource["resourceType"] != resource_type:
                errors.append(f"{resource_type} file holds a {resource['resourceType']}")
            resources.append(resource)
    known = {f"{r['resourceType']}/{r['id']}" for r in resources}
    for resource in resources:
        errors.extend(f"{resource['resourceType']}: {e}" for e in resource_errors(resource))
        errors.extend(
            f"{resource['resourceType']}: dangling {ref}"
            for ref in references(resource)
            if ref not in known and (not partial or ref.split("/")[0] in files)
        )
    return errors


def of_type(resources: Iterable[dict[str, Any]], resource_type: str) -> list[dict[str, Any]]:
    """The resources of one type."""
    return [r for r in resources if r["resourceType"] == resource_type]
