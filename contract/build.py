"""Build the OpenAPI 3.1 document of the whole API.

Which routes exist and which function serves each comes from template.yaml (what API Gateway routes); the
request side of each (path and query parameters, bodies) from that function's FastAPI app; the response side
(the envelopes, `data` per route, error codes per route) from contract.route_docs and contract.schemas.

`python -m contract.build` writes the document to OPENAPI_FILE (inside the shared layer, so the health function
serves it at GET /api/v1/openapi.json; docs/openapi.json links to it). `--check` exits 1 when the committed file
differs from what the code builds; tests/test_openapi.py runs the same comparison in `make test`.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Iterator
from typing import Any

from local.functions import ROOT, load_module, put_layer_on_path

OPENAPI_FILE = ROOT / "layers" / "shared" / "offerhub" / "openapi.json"
API_TITLE = "OfferHub Orchestrator API"

# Codes every route of a kind can answer; contract.route_docs lists only those beyond these.
AUTH_ERRORS = ("UNAUTHORIZED", "INSUFFICIENT_SCOPE")
INPUT_ERRORS = ("VALIDATION_ERROR",)
AMOUNT_ERRORS = ("INVALID_AMOUNT_FORMAT",)
IDEMPOTENCY_ERRORS = ("IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_KEY_IN_PROGRESS")
LIMIT_ERRORS = ("RATE_LIMITED",)
STORE_ERRORS = ("DATABASE_UNAVAILABLE",)  # every route that reads or writes Postgres, when it is out of reach

_PARAM = re.compile(r"\{[^}]+\}")


def _shape(path: str) -> str:
    return _PARAM.sub("{}", path)


def _names(path: str) -> list[str]:
    return [p.strip("{}") for p in _PARAM.findall(path)]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _apps(template: Any) -> dict[str, dict[str, Any]]:
    """Each HTTP function's FastAPI document, by logical id."""
    docs: dict[str, dict[str, Any]] = {}
    for logical_id in sorted({route.function for route in template.routes}):
        function = template.functions[logical_id]
        module = load_module(function.code_uri, function.handler.rpartition(".")[0])
        docs[logical_id] = module.app.openapi()
    return docs


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            yield method.upper(), path, operation


class _Components:
    """Request schemas from every app under one namespace: the same name with a different schema is an error
    (two apps each defining a `CreateX` differently would otherwise silently share one)."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}
        self.owner: dict[str, str] = {}

    def add(self, function: str, schemas: dict[str, Any]) -> None:
        for name, schema in schemas.items():
            if name in ("HTTPValidationError", "ValidationError"):
                continue  # FastAPI's 422 shape: our validation errors are the error envelope's 400
            if name in self.schemas and self.schemas[name] != schema:
                raise SystemExit(f"request schema {name!r} differs between {self.owner[name]} and {function}: "
                                 "rename one of the models")
            self.schemas[name] = schema
            self.owner.setdefault(name, function)


def _takes_amount(operation: dict[str, Any], schemas: dict[str, Any]) -> bool:
    text = json.dumps(operation.get("requestBody", {}))
    for name in re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", text):
        text += json.dumps(schemas.get(name, {}))
    return '"amount' in text.lower() or "Amount" in text


def _error_response(codes: list[str], catalogue: dict[str, tuple[int, str]]) -> dict[str, Any]:
    lines = "\n".join(f"- `{c}`: {catalogue[c][1]}" for c in codes)
    return {
        "description": f"Error codes:\n{lines}",
        **({"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}} if _may_retry(codes) else {}),
        "content": {"application/json": {
            "schema": _ref("ErrorEnvelope"),
            "example": {"error": {"code": codes[-1], "message": catalogue[codes[-1]][1], "details": {},
                                  "requestId": "7d0c1f9e-2b1a-4a51-9a43-5e0f3c1d2b7a"}},
        }},
        "x-error-codes": codes,
    }


def _may_retry(codes: list[str]) -> bool:
    return any(c in ("RATE_LIMITED", "IDEMPOTENCY_KEY_IN_PROGRESS") or c.endswith("BUSY") or "IN_FLIGHT" in c
               for c in codes)


def _success(doc: Any, status: int) -> dict[str, Any]:
    if not doc.envelope:
        return {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    if status in (302, 303):
        return {"description": "A redirect, without a body", "headers": {"Location": {
            "schema": {"type": "string", "format": "uri"}, "description": "Where the browser goes next"}}}
    if doc.data is None:
        data: dict[str, Any] = {"type": "array"} if doc.paged else {}
    elif doc.paged or doc.data.endswith("[]"):
        data = {"type": "array", "items": _ref(doc.data.removesuffix("[]"))}
    else:
        data = _ref(doc.data)
    envelope = "PageEnvelope" if doc.paged else "SuccessEnvelope"
    schema = {"allOf": [_ref(envelope), {"type": "object", "properties": {"data": data}}]}
    content: dict[str, Any] = {"schema": schema}
    if doc.example is not None:
        content["example"] = doc.example
    descriptions = {200: "OK", 201: "Created", 202: "Accepted"}
    return {"description": descriptions.get(status, "Success"),
            "headers": {h: {"$ref": f"#/components/headers/{h}"} for h in RATE_HEADERS},
            "content": {"application/json": content}}


RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-Request-ID")


def _operation(route: Any, fastapi_op: dict[str, Any], path_names: list[str], doc: Any,
               catalogue: dict[str, tuple[int, str]], schemas: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": _operation_id(route),
        "summary": doc.summary,
        "tags": [route.function.removesuffix("Function")],
    }
    if doc.description:
        op["description"] = doc.description
    fastapi_names = _names(fastapi_op["x-path"])
    renames = dict(zip(fastapi_names, path_names, strict=True))
    parameters = []
    for param in fastapi_op.get("parameters", []):
        param = copy.deepcopy(param)
        if param["in"] == "path":
            param["name"] = renames[param["name"]]
            param["schema"].pop("title", None)
        parameters.append(param)
    parameters.append({"$ref": "#/components/parameters/X-Request-ID"})
    if route.method == "POST":
        parameters.append({"$ref": "#/components/parameters/Idempotency-Key"})
    op["parameters"] = parameters
    if "requestBody" in fastapi_op:
        op["requestBody"] = fastapi_op["requestBody"]

    codes: list[str] = []
    if not doc.public:
        codes += AUTH_ERRORS
    if parameters or "requestBody" in fastapi_op:
        codes += INPUT_ERRORS
    if _takes_amount(fastapi_op, schemas):
        codes += AMOUNT_ERRORS
    if route.method == "POST":
        codes += IDEMPOTENCY_ERRORS
    codes += LIMIT_ERRORS
    if doc.envelope:
        codes += STORE_ERRORS
    codes += [c for c in doc.errors if c not in codes]
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(catalogue[code][0], []).append(code)

    responses: dict[str, Any] = {str(s): _success(doc, s) for s in doc.statuses}
    for status in sorted(by_status):
        responses[str(status)] = _error_response(by_status[status], catalogue)
    op["responses"] = responses
    op["security"] = [] if doc.public else [{"ApiKey": []}, {"BearerKey": []}]
    return op


def _operation_id(route: Any) -> str:
    words = [p.strip("{}") for p in route.path.removeprefix("/api/v1/").split("/") if p]
    parts = [route.method.lower()] + [re.sub(r"[^A-Za-z0-9]+", "_", w) for w in words]
    return "_".join(parts)


def build() -> dict[str, Any]:
    put_layer_on_path()
    from contract.route_docs import ROUTES
    from contract.schemas import ERROR_CODES, SCHEMAS
    from local import template as tpl
    from offerhub import __version__

    template = tpl.load()
    apps = _apps(template)
    components = _Components()
    by_shape: dict[tuple[str, str, str], dict[str, Any]] = {}
    for function, doc in apps.items():
        components.add(function, doc.get("components", {}).get("schemas", {}))
        for method, path, operation in _operations(doc):
            by_shape[(function, method, _shape(path))] = {**operation, "x-path": path}

    missing = sorted({r.route_key for r in template.routes} - ROUTES.keys())
    stale = sorted(ROUTES.keys() - {r.route_key for r in template.routes})
    if missing or stale:
        raise SystemExit(f"contract.route_docs is out of step with template.yaml: missing {missing}, stale {stale}")

    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(template.routes, key=lambda r: (r.path, r.method)):
        fastapi_op = by_shape.get((route.function, route.method, _shape(route.path)))
        if fastapi_op is None:
            raise SystemExit(f"{route.route_key}: {route.function} has no such route in its FastAPI app")
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route, fastapi_op, _names(route.path), ROUTES[route.route_key], ERROR_CODES, components.schemas)

    schemas = {**_envelopes(), **SCHEMAS, **components.schemas}
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": API_TITLE,
            "version": __version__,
            "description": (
                "The HTTP API of OfferHub Orchestrator. Every success is `{data, meta}` and every failure "
                "`{error: {code, message, details, requestId}}`; amounts are decimal strings. Authenticate with "
                "`X-API-Key: ohk_...` or `Authorization: Bearer ohk_...` (or a short-lived `ohk_tok_...` token). "
                "A POST with an `Idempotency-Key` header is answered once and replayed for 24 h. See docs/api.md."
            ),
        },
        "servers": [{"url": "/", "description": "The API Gateway stage (or `make run` on http://127.0.0.1:3000)"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "BearerKey": {"type": "http", "scheme": "bearer",
                              "description": "An API key or an `ohk_tok_` token as a bearer token"},
            },
            "parameters": {
                "X-Request-ID": {"name": "X-Request-ID", "in": "header", "required": False,
                                 "description": "Your id for this request; echoed in meta.requestId and logs",
                                 "schema": {"type": "string", "maxLength": 128}},
                "Idempotency-Key": {"name": "Idempotency-Key", "in": "header", "required": False,
                                    "description": "The same key with the same body replays the first answer",
                                    "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
            },
            "headers": {
                "X-RateLimit-Limit": {"schema": {"type": "integer"}, "description": "Requests per window"},
                "X-RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "Left in this window"},
                "X-RateLimit-Reset": {"schema": {"type": "integer"}, "description": "Unix time the window ends"},
                "X-Request-ID": {"schema": {"type": "string"}, "description": "The request's id"},
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying"},
            },
        },
    }
    return document


def _envelopes() -> dict[str, Any]:
    meta = {
        "type": "object",
        "required": ["requestId", "timestamp"],
        "properties": {"requestId": {"type": "string"}, "timestamp": {"type": "string", "format": "date-time"}},
    }
    pagination = {
        "type": "object",
        "required": ["hasMore", "nextCursor"],
        "properties": {"hasMore": {"type": "boolean"}, "nextCursor": {"type": ["string", "null"]}},
    }
    return {
        "Meta": meta,
        "PageMeta": {"allOf": [_ref("Meta"), {"type": "object", "required": ["pagination"],
                                               "properties": {"pagination": pagination}}]},
        "SuccessEnvelope": {"type": "object", "required": ["data", "meta"],
                            "properties": {"data": {}, "meta": _ref("Meta")}},
        "PageEnvelope": {"type": "object", "required": ["data", "meta"],
                         "properties": {"data": {"type": "array"}, "meta": _ref("PageMeta")}},
        "ErrorEnvelope": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message", "details", "requestId"],
                "properties": {
                    "code": {"type": "string", "description": "Stable, machine-readable; see each response"},
                    "message": {"type": "string"},
                    "details": {"type": "object"},
                    "requestId": {"type": "string"},
                },
            }},
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=False, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    text = render(build())
    if "--check" in argv:
        if not OPENAPI_FILE.exists() or OPENAPI_FILE.read_text() != text:
            print(f"{OPENAPI_FILE.relative_to(ROOT)} is stale: run `make openapi` and commit it", file=sys.stderr)
            return 1
        return 0
    OPENAPI_FILE.write_text(text)
    print(f"wrote {OPENAPI_FILE.relative_to(ROOT)} ({len(text) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
