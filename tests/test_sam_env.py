"""The `--env-vars` file for `sam local` (local/sam_env.py): only what the template declares, and enough of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local import sam_env
from local import template as tpl
from local.sandbox.rails import SandboxRails
from tests.e2e.stack import MASTER, ROOT, Stack

# Plain values the rails hand `make run` that the template reads from secrets instead (sam_env.SECRETS_FROM_ENV).
FROM_SECRETS = {"TRUSTLESS_API_KEY", "AIRTM_API_KEY", "AIRTM_API_SECRET"}


def local_environment(tmp_path) -> dict[str, str]:
    rails = SandboxRails(tmp_path / "chain.sqlite", airtm_webhook_secret="whsec_dGVzdA==")
    return {
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/offerhub",
        "OFFERHUB_AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "PAYMENT_PROVIDER": "crypto",
        "NOT_IN_THE_TEMPLATE": "dropped",
        **rails.environment("http://127.0.0.1:4000"),
    }


def test_every_function_and_variable_in_the_file_is_in_the_template(tmp_path):
    template = tpl.load()
    written = sam_env.sam_environment(template, local_environment(tmp_path))
    assert set(written) == set(template.functions)
    for function, variables in written.items():
        declared = set(template.globals_env) | set(template.functions[function].environment)
        assert set(variables) <= declared, (function, set(variables) - declared)
        assert "NOT_IN_THE_TEMPLATE" not in variables


def test_every_function_reaches_the_local_services(tmp_path):
    env = local_environment(tmp_path)
    needed = {"DATABASE_URL", "OFFERHUB_AWS_ENDPOINT_URL", *(set(env) - FROM_SECRETS - {"NOT_IN_THE_TEMPLATE"})}
    for function, variables in sam_env.sam_environment(tpl.load(), env).items():
        assert needed <= set(variables), (function, needed - set(variables))
        assert variables["DATABASE_URL"] == env["DATABASE_URL"]


def test_secrets_the_rails_need_are_template_secrets():
    template = tpl.load()
    secrets = template.resources_of("AWS::SecretsManager::Secret")
    for name in sam_env.SECRETS_FROM_ENV:
        assert template.globals_env[name]["Ref"] in secrets, name


SAM_LOCAL_INVOKE = """
import json, sys
from local.functions import load_module, LambdaContext
from tests.lambda_client import http_event
event = http_event("POST", "/api/v1/users", body={"externalUserId": "sam-local-1"},
                   headers={"authorization": "Bearer " + sys.argv[1]})
created = load_module("functions/users/").handler(event, LambdaContext(function_name="UsersFunction"))
user_id = json.loads(created["body"])["data"]["id"]
wallet = load_module("functions/wallet/").handler(
    http_event("GET", f"/api/v1/users/{user_id}/wallet", headers={"authorization": "Bearer " + sys.argv[1]}),
    LambdaContext(function_name="WalletFunction"))
print(json.dumps([created, wallet]))
"""


@pytest.mark.e2e
def test_make_services_then_a_function_with_only_its_env_file(fresh_database_url, tmp_path):
    """`make services`, then UsersFunction run as `sam local` would: only the variables env.json gives it (plus
    the AWS credentials SAM passes), against the services' Postgres, moto (KMS, SQS, secrets) and rails."""
    services = Stack({"OFFERHUB_SERVICES_ONLY": "1", "DATABASE_URL": fresh_database_url(),
                      "OFFERHUB_DATA_DIR": str(tmp_path / "data")})
    try:
        env_file = json.loads(Path(services.base).read_text())
        function_env = env_file["UsersFunction"]
        assert function_env["OFFERHUB_AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        clean = {"PATH": os.environ["PATH"], "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'shared'}",
                 "AWS_ACCESS_KEY_ID": "sam", "AWS_SECRET_ACCESS_KEY": "sam", "AWS_DEFAULT_REGION": "us-east-1",
                 **function_env}
        run = subprocess.run([sys.executable, "-c", SAM_LOCAL_INVOKE, MASTER], cwd=tmp_path, env=clean,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        created, wallet = json.loads(run.stdout.strip().splitlines()[-1])
        assert created["statusCode"] == 201, created
        # Sealed by moto's KMS, stored in Postgres, its activation queued on moto's SQS (nobody polls it here).
        assert wallet["statusCode"] == 200 and json.loads(wallet["body"])["data"]["status"] == "CREATED", wallet
    finally:
        assert services.stop() == 0, "".join(services.output)
