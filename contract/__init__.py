"""The API contract: one OpenAPI 3.1 document built from the FastAPI apps (request side) and template.yaml (which
routes exist, which function serves each), with the response side described here. `make openapi` writes it."""
