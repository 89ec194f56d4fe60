"""The API's OpenAPI 3.1 document, as committed beside this module (built by `make openapi`, contract/build.py).

Served as it is, not in the envelope: it is what OpenAPI tools fetch. Read once per container."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def document() -> bytes:
    return files("offerhub").joinpath("openapi.json").read_bytes()
