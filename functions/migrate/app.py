"""migrate: apply database migrations. Invoked directly, or by CloudFormation as a custom resource
on every deploy (template.yaml `DatabaseMigration`)."""

from typing import Any

from offerhub.adapters.postgres.engine import database_url
from offerhub.adapters.postgres.migrations import upgrade_to_head
from offerhub.config import settings
from offerhub.deploy.custom_resource import answer_cloudformation
from offerhub.observability import instrumented, logger


@logger.inject_lambda_context
@instrumented
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "RequestType" in event:
        return answer_cloudformation(event, context, _migrate_unless_delete)
    return {"revision": upgrade_to_head(database_url(settings()))}


def _migrate_unless_delete(event: dict[str, Any]) -> dict[str, Any]:
    if event["RequestType"] == "Delete":
        return {}  # never roll the schema back when a stack is deleted
    return {"Revision": upgrade_to_head(database_url(settings()))}
