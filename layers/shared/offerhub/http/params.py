"""Request models and query parameters shared by the routes.

Bodies are strict: unknown fields are refused and types are not coerced. What Postgres cannot store (NaN,
Infinity, NUL, lone surrogates) never reaches a model: offerhub.http.body refuses it where the body is parsed.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from offerhub.core.money import AMOUNT_FORMAT, AMOUNT_PATTERN, is_amount_text
from offerhub.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
MAX_JSON_BYTES = 8192


def _small_json(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > MAX_JSON_BYTES:
        raise ValueError(f"must serialise to at most {MAX_JSON_BYTES} bytes of JSON")
    return value


# Free-form integrator data (e.g. order metadata), stored as JSON.
JsonObject = Annotated[dict[str, Any], AfterValidator(_small_json)]

# The pydantic error type of a bad amount: offerhub.http.errors answers it INVALID_AMOUNT_FORMAT.
AMOUNT_ERROR = "invalid_amount_format"


def _amount_text(value: Any) -> str:
    if not is_amount_text(value):
        raise PydanticCustomError(AMOUNT_ERROR, f"must be {AMOUNT_FORMAT}")
    return value


# Every amount field of every body: a JSON number, an over-long or a malformed string is a 400
# INVALID_AMOUNT_FORMAT naming the field. The value stays a string; offerhub.core.money.parse_amount turns it
# into a Decimal and checks its range (zero, the maximum).
AmountText = Annotated[
    str,
    BeforeValidator(_amount_text),
    WithJsonSchema({"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["100.00"]}),
]


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)
