"""The migrate function: direct invocation, and CloudFormation custom resource (always answers)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.lambda_client import ROOT, FakeLambdaContext, load_function, sample_event

# The newest migration's revision (files are named <revision>_<slug>.py).
HEAD = max(p.name.split("_")[0] for p in (ROOT / "layers/shared/offerhub/adapters/postgres/migrations/versions")
           .glob("[0-9]*_*.py"))


@pytest.fixture
def cloudformation():
    """A stand-in for CloudFormation's pre-signed ResponseURL that records what it is told."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self):
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/response", received
    server.shutdown()


def _cfn_event(url: str, request_type: str) -> dict:
    return {"RequestType": request_type, "ResponseURL": url, "StackId": "arn:aws:cloudformation:stack/x",
            "RequestId": "req-1", "LogicalResourceId": "DatabaseMigration", "ResourceProperties": {}}


def test_direct_invocation_migrates_to_head(db):
    result = load_function("migrate").handler(sample_event("migrate_direct.json"), FakeLambdaContext())
    assert result == {"revision": HEAD}


def test_custom_resource_reports_success_with_the_revision(db, cloudformation):
    url, received = cloudformation
    load_function("migrate").handler(_cfn_event(url, "Create"), FakeLambdaContext())
    assert received[-1]["Status"] == "SUCCESS"
    assert received[-1]["Data"] == {"Revision": HEAD}
    assert received[-1]["LogicalResourceId"] == "DatabaseMigration"


def test_custom_resource_reports_failure_instead_of_hanging_the_stack(db, cloudformation, monkeypatch):
    url, received = cloudformation
    migrate = load_function("migrate")

    def broken(_url: str) -> str:
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(migrate, "upgrade_to_head", broken)
    migrate.handler(_cfn_event(url, "Update"), FakeLambdaContext())
    assert received[-1]["Status"] == "FAILED"
    assert "database unreachable" in received[-1]["Reason"]
    migrate.handler(_cfn_event(url, "Delete"), FakeLambdaContext())
    assert received[-1]["Status"] == "SUCCESS"  # deleting the stack never touches the schema


def test_work_still_running_at_the_deadline_is_answered_failed(db, cloudformation, monkeypatch):
    url, received = cloudformation
    migrate = load_function("migrate")
    release = threading.Event()

    def hangs(_url: str) -> str:
        release.wait(30)
        return "never"

    monkeypatch.setattr(migrate, "upgrade_to_head", hangs)
    try:  # 10.5 s of Lambda time, 10 s of it kept to answer: the work gets half a second
        migrate.handler(_cfn_event(url, "Update"), FakeLambdaContext(timeout_seconds=10.5))
    finally:
        release.set()
    assert received[-1]["Status"] == "FAILED" and "deadline" in received[-1]["Reason"]


def test_a_migration_waiting_on_a_lock_gives_up_in_bounded_time(db, monkeypatch):
    from sqlalchemy import create_engine, text

    from offerhub.adapters.postgres.engine import normalize_url
    from offerhub.adapters.postgres.migrations import upgrade_to_head

    monkeypatch.setenv("MIGRATION_LOCK_TIMEOUT_SECONDS", "0.5")
    holder = create_engine(normalize_url(db))
    with holder.connect() as conn:  # another deploy holds the migration lock and never lets go
        conn.execute(text("SELECT pg_advisory_lock(7146401)"))
        with pytest.raises(Exception, match="lock timeout"):
            upgrade_to_head(db)
        conn.execute(text("SELECT pg_advisory_unlock(7146401)"))
    holder.dispose()
    assert upgrade_to_head(db) == HEAD
