"""Query arguments of the FHIR routes and the shapes their documentation shows."""

from __future__ import annotations

from marshmallow import fields, validate

from service.inputs import ApiSchema


class BundleQueryArgsSchema(ApiSchema):
    """A window of the patient's local days (default: all up to today) and the format."""

    from_ = fields.Date(data_key="from")
    to = fields.Date()
    format_ = fields.String(data_key="_format", validate=validate.Length(max=64))


class ExportQueryArgsSchema(ApiSchema):
    """Bulk export options: resource types, output format, the clinic (admins)."""

    type_ = fields.String(data_key="_type", validate=validate.Length(min=1, max=500))
    output_format = fields.String(data_key="_outputFormat", validate=validate.Length(max=64))
    clinic = fields.Integer(validate=validate.Range(min=1))


class OutcomeDetailsSchema(ApiSchema):
    """Readable text of an issue."""

    text = fields.String(required=True)


class OutcomeIssueSchema(ApiSchema):
    """One issue of an OperationOutcome."""

    severity = fields.String(required=True)
    code = fields.String(required=True)
    details = fields.Nested(OutcomeDetailsSchema)
    expression = fields.List(fields.String())


class OperationOutcomeSchema(ApiSchema):
    """A FHIR OperationOutcome: the body of every error (and of 202s) on the FHIR routes."""

    resourceType = fields.String(required=True)
    issue = fields.List(fields.Nested(OutcomeIssueSchema), required=True)


class FhirResourceSchema(ApiSchema):
    """A FHIR resource (validated against the R4 specification by the test suite)."""

    resourceType = fields.String(required=True)
    id = fields.String()


class ManifestOutputSchema(ApiSchema):
    """One NDJSON file of a finished export."""

    type = fields.String(required=True)
    url = fields.String(required=True)
    count = fields.Integer(required=True)


class ExportManifestSchema(ApiSchema):
    """The Bulk Data completion manifest."""

    transactionTime = fields.String(required=True)
    request = fields.String(required=True)
    requiresAccessToken = fields.Boolean(required=True)
    output = fields.List(fields.Nested(ManifestOutputSchema), required=True)
    error = fields.List(fields.Dict(), required=True)
