"""`sam local` against the local services: the `--env-vars` file that points every function at them.

`make services` starts Postgres, moto and the sandbox rails without the gateway and writes this file to
`$OFFERHUB_DATA_DIR/env.json` (default .devdata/env.json). SAM only overrides variables the template declares for a
function, so the file holds, per function, exactly its declared variables (Globals + its own) with the values the
local stack resolved: SAM would silently drop anything else, and a variable the template lacks would be a setting
that works in `make run` and not in `sam local`. tests/test_sam_env.py holds it to that.

The values name 127.0.0.1: run SAM with `--docker-network host` so the function containers share the host's
network (README, "sam local").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.template import Template


def declared_variables(template: Template, function: str) -> set[str]:
    return set(template.globals_env) | set(template.functions[function].environment)


def sam_environment(template: Template, resolved: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Function logical id -> its declared variables that have a local value, as `--env-vars` takes them."""
    return {
        function: {name: resolved[name] for name in sorted(declared_variables(template, function)) if name in resolved}
        for function in sorted(template.functions)
    }


def write(template: Template, resolved: Mapping[str, str], path: Path) -> Path:
    path.write_text(json.dumps(sam_environment(template, resolved), indent=2, sort_keys=True) + "\n")
    return path


# What `make run` hands the functions as plain variables, which the template (as in AWS) reads from secrets: their
# local values go into the moto secrets the template's ARNs name, so `sam local` reads the same ones.
SECRETS_FROM_ENV: dict[str, Any] = {
    "OFFERHUB_MASTER_KEY_SECRET_ARN": lambda env: env["OFFERHUB_MASTER_KEY"],
    "TRUSTLESS_API_KEY_SECRET_ARN": lambda env: env.get("TRUSTLESS_API_KEY"),
    "AIRTM_CREDENTIALS_SECRET_ARN": lambda env: json.dumps({"apiKey": env["AIRTM_API_KEY"],
                                                            "apiSecret": env["AIRTM_API_SECRET"]})
    if env.get("AIRTM_API_KEY") else None,
    "AIRTM_WEBHOOK_SECRET_ARN": lambda env: env.get("AIRTM_WEBHOOK_SECRET"),
    "TRUSTLESS_WEBHOOK_SECRET_ARN": lambda env: env.get("TRUSTLESS_WEBHOOK_SECRET"),
}


def seed_secrets(template: Template, physical: Mapping[str, str], env: Mapping[str, str]) -> dict[str, str]:
    """Put the local values into the moto secrets; returns the ARN variables, resolved, for the env file."""
    import boto3

    client = boto3.client("secretsmanager")
    arns: dict[str, str] = {}
    for name, value_of in SECRETS_FROM_ENV.items():
        ref = template.globals_env.get(name)
        logical_id = ref.get("Ref") if isinstance(ref, dict) else None
        value = value_of(env)
        if logical_id in physical and value:
            client.put_secret_value(SecretId=physical[logical_id], SecretString=value)
            arns[name] = physical[logical_id]
    return arns
