"""Schemas of questionnaires: instruments, what the patient answers, and scores."""

from __future__ import annotations

from marshmallow import fields, validate

from service.inputs import ApiSchema


class ScaleSchema(ApiSchema):
    """An item's anchored whole-number scale."""

    low = fields.Integer(dump_only=True)
    high = fields.Integer(dump_only=True)
    low_label = fields.String(dump_only=True)
    high_label = fields.String(dump_only=True)


class ItemSchema(ApiSchema):
    """One question."""

    id = fields.String(dump_only=True)
    text = fields.String(dump_only=True)
    scale = fields.Nested(ScaleSchema, dump_only=True)


class ScoringSchema(ApiSchema):
    """How item answers make the score: their mean or sum, rounded to `decimals`."""

    method = fields.String(dump_only=True, metadata={"enum": ["mean", "sum"]})
    decimals = fields.Integer(dump_only=True)


class InstrumentSchema(ApiSchema):
    """A questionnaire instrument (the built-in PEG or a clinic's own)."""

    id = fields.String(dump_only=True)
    title = fields.String(dump_only=True)
    intro = fields.String(dump_only=True)
    builtin = fields.Boolean(dump_only=True)
    scoring = fields.Nested(ScoringSchema, dump_only=True)
    items = fields.List(fields.Nested(ItemSchema), dump_only=True)


class InstrumentListSchema(ApiSchema):
    """Instruments a clinic can ask."""

    items = fields.List(fields.Nested(InstrumentSchema), dump_only=True)


class InstrumentUploadSchema(ApiSchema):
    """A clinic's instrument as YAML (see the README for the format)."""

    yaml = fields.String(required=True, validate=validate.Length(min=1, max=64 * 1024))


class QuestionnaireSchema(ApiSchema):
    """A questionnaire waiting for the patient's answers."""

    id = fields.Integer(dump_only=True)
    sent_at = fields.DateTime(dump_only=True)
    instrument = fields.Nested(InstrumentSchema, dump_only=True)


class QuestionnaireListSchema(ApiSchema):
    """The patient's pending questionnaires, oldest first."""

    items = fields.List(fields.Nested(QuestionnaireSchema), dump_only=True)


class ResponseCreateSchema(ApiSchema):
    """Answers: item id -> a whole number on the item's scale; every item must be answered."""

    answers = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=64)),
        values=fields.Raw(allow_none=True),
        required=True,
        validate=validate.Length(max=100),
        metadata={"example": {"pain": 6, "enjoyment": 5, "activity": 4}},
    )


class ResponseSchema(ApiSchema):
    """A stored, scored response."""

    id = fields.Integer(dump_only=True)
    questionnaire_id = fields.Integer(dump_only=True)
    instrument = fields.String(dump_only=True)
    score = fields.Float(dump_only=True)
    answered_at = fields.DateTime(dump_only=True)


class ScoreSchema(ApiSchema):
    """One scored response with its answers (clinician view)."""

    id = fields.Integer(dump_only=True)
    instrument = fields.String(dump_only=True)
    score = fields.Float(dump_only=True)
    answered_at = fields.DateTime(dump_only=True)
    answers = fields.Dict(keys=fields.String(), values=fields.Integer(), dump_only=True)


class ScoreListSchema(ApiSchema):
    """A patient's questionnaire scores, oldest first."""

    items = fields.List(fields.Nested(ScoreSchema), dump_only=True)
