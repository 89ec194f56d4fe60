"""Property-based fuzz of the running stack from its own OpenAPI document (schemathesis).

Every documented operation gets generated requests, valid and invalid, with the master key; each answer must be
no 5xx, a documented status, JSON, and valid against the document's schema for that status. `make test` runs a
bounded number of examples per operation in each payment mode (FUZZ_EXAMPLES, default 5); `make fuzz` runs many
more. The test helpers are left out: they exist to break things on purpose (fault injection), and are absent in
prod.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import MASTER, ROOT, Stack

pytestmark = pytest.mark.e2e
DOCUMENT = ROOT / "docs" / "openapi.json"
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "response_headers_conformance")


@pytest.fixture(scope="module", params=["crypto", "airtm"])
def stack(request, fresh_database_url, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack({"DATABASE_URL": fresh_database_url(), "PAYMENT_PROVIDER": request.param,
                     "OFFERHUB_DATA_DIR": str(tmp_path_factory.mktemp(f"fuzz-{request.param}"))})
    yield running
    assert running.stop() == 0, "".join(running.output)


def test_every_operation_answers_as_documented(stack: Stack, tmp_path: Path):
    origin = stack.base.removesuffix("/api/v1")
    examples = os.environ.get("FUZZ_EXAMPLES", "5")
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", str(DOCUMENT), "--url", origin,
        "-H", f"X-API-Key: {MASTER}", "--checks", CHECKS, "--max-examples", examples,
        "--phases", "examples,fuzzing", "--exclude-path-regex", "/test-helpers/",
        "--workers", "2", "--seed", os.environ.get("FUZZ_SEED", "20261201"),
        "--suppress-health-check", "all", "--warnings", "off",
        "--report", "ndjson", "--report-dir", str(tmp_path),
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""})
    tail = run.stdout[-20000:]
    assert run.returncode == 0, f"schemathesis found failures:\n{tail}\n{run.stderr[-3000:]}"
    assert "No issues found" in run.stdout or " passed" in run.stdout, tail
    assert not any("Traceback" in line for line in stack.output), "".join(stack.output)[-5000:]
