"""Stable resource ids and how resources refer to each other.

Ids are UUIDv5 of (clinic, kind, record key): the same record gets the same id in every export,
so a receiving system can update rather than duplicate. Inside a Bundle, resources are addressed
by `urn:uuid:` fullUrls; in bulk NDJSON, by relative `Type/id` references.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:backstride:fhir")
_NAMESPACE_BYTES = NAMESPACE.bytes


def resource_id(clinic_id: int, kind: str, *key: object) -> str:
    """The stable id of a record of `kind` in a clinic: `uuid5(NAMESPACE, name)`."""
    name = ":".join(["clinic", str(clinic_id), kind, *(str(part) for part in key)])
    # uuid.uuid5 spelled out: a bulk export makes one per resource, and building UUID objects
    # was a third of its time. Same bytes: SHA-1 of namespace + name, version 5, RFC 4122.
    raw = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest())
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


@functools.lru_cache(maxsize=8192)
def shared_id(clinic_id: int, kind: str, *key: object) -> str:
    """`resource_id` of a record many resources point at (a patient, a device), remembered."""
    return resource_id(clinic_id, kind, *key)


def patient_system(clinic_id: int) -> str:
    """The identifier namespace of a clinic's patients."""
    return f"urn:backstride:clinic:{clinic_id}:patient"


def clinic_system() -> str:
    """The identifier namespace of clinics."""
    return "urn:backstride:clinic"


@dataclass(frozen=True)
class Refs:
    """How a resource points at another: `urn:uuid:<id>` in a Bundle, `Type/<id>` in NDJSON."""

    in_bundle: bool

    def to(self, resource_type: str, rid: str, display: str | None = None) -> dict[str, Any]:
        """A Reference to a resource of the same export."""
        target = f"urn:uuid:{rid}" if self.in_bundle else f"{resource_type}/{rid}"
        reference: dict[str, Any] = {"reference": target, "type": resource_type}
        if display:
            reference["display"] = display
        return reference


BUNDLE = Refs(in_bundle=True)
NDJSON = Refs(in_bundle=False)
