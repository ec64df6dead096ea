"""The providers' published API descriptions, and checks that a recorded exchange (a request an
adapter made, the answer a fake gave) keeps to them.

Each `check(exchange)` returns the problems found (empty when the exchange keeps to the
document). The documents live in tests/fixtures/contracts/ (README there: source and date):

- Oura (OpenAPI 3.1) is validated by openapi-core as published.
- Strava (Swagger 2.0) is converted to OpenAPI 3.0 (`swagger2_to_openapi3`), then validated by
  openapi-core; its response schemas are external `$ref`s the document does not carry, so
  activity objects are held to the fields of the document's own example instead.
- Google Health publishes a discovery document, not OpenAPI: `DiscoveryContract` finds the
  method by HTTP method and `flatPath`, checks query parameters by their declared types and
  validates bodies with jsonschema against the document's schemas, converted to JSON Schema
  (`$ref` by name, `any`, int64 as a decimal string, no unknown fields: Google's JSON parser
  refuses unknown names and its responses carry none).
- Withings publishes OpenAPI 3.0, but keys every operation of one URL by that URL padded with
  spaces and selects it with the `action` form field; `WithingsContract` routes by (path,
  action), applies the document's "DO NOT USE WITH" alternatives to required parameters, and
  validates parameters and responses with openapi-schema-validator's OAS 3.0 validator.
- Polar AccessLink publishes OpenAPI 3.0 whose object schemas do not close themselves:
  `PolarContract` closes them (a renamed field is then caught), adds the 429 its prose gives
  every request and checks the prose's date-range limits; `check_webhook` holds notification
  bodies to the document's payload schemas.
- Garmin publishes prose with examples: `GarminContract` holds served summaries to the
  documented examples' fields and types, and requests to the rules the prose states.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.fakes.contracts_base import Contract
from tests.fakes.contracts_custom import DiscoveryContract, GarminContract, WithingsContract
from tests.fakes.contracts_openapi import OuraContract, PolarContract, StravaContract

__all__ = ["CONTRACTS_BY_PROVIDER", "Contract"]

CONTRACTS_BY_PROVIDER: dict[str, Callable[[], Contract]] = {
    "oura": OuraContract,
    "strava": StravaContract,
    "google_health": DiscoveryContract,
    "withings": WithingsContract,
    "garmin": GarminContract,
    "polar": PolarContract,
}
