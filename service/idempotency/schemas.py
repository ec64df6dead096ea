"""The `Idempotency-Key` request header, as routes that honour it declare it."""

from __future__ import annotations

from marshmallow import EXCLUDE, fields, validate

from service.inputs import ApiSchema

HEADER = "Idempotency-Key"


class IdempotencyHeaderSchema(ApiSchema):
    """An optional `Idempotency-Key`: retries with the same key get the first answer."""

    class Meta:
        unknown = EXCLUDE  # every other request header

    key = fields.String(
        data_key=HEADER,
        validate=[
            validate.Length(min=1, max=255),
            validate.Regexp(r"^[\x21-\x7e]+$", error="use visible ASCII characters only"),
        ],
        metadata={
            "description": (
                "A unique value per logical request (e.g. a UUID), 1-255 visible ASCII "
                "characters. A retry with the same key within 24 hours returns the first "
                "answer (same status and body, header `Idempotent-Replayed: true`) and stores "
                "nothing twice; the same key with a different body is refused with 422 "
                "(IETF draft-ietf-httpapi-idempotency-key-header)."
            )
        },
    )
