"""FHIR R4 interoperability (SPEC §11.5): a patient's programme as a Bundle, clinic bulk export."""
