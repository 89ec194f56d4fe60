"""template.yaml is ready for a real account (issue 13): keys outlive the stack, deploys never hang nor run code
ahead of its schema, failures are logged, alarmed and parked, and a new account deploys it (no reserved
concurrency by default, least privilege, no test helpers in prod, an optional managed database).

The template is read as written and then "deployed" on paper: conditions evaluated for a set of parameters,
resources whose condition is false dropped, `!If` resolved (docs/deploy.md lists the parameters).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
NO_VALUE = {"Ref": "AWS::NoValue"}
OWN_DATABASE = {"DatabaseHost": "db.example.internal",
                "DatabaseSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}
MANAGED_DATABASE = {"DatabaseHost": "", "VpcId": "vpc-0123456789abcdef0",
                    "VpcSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
                    "VpcRouteTableIds": "rtb-0123456789abcdef0"}
# Metrics the code emits (namespace OfferHub, offerhub/observability.py) that must page someone when they go wrong.
ALARMED_METRICS = {"ReconciliationDiscrepancies", "MonitorLagSeconds", "ProviderErrors"}
# Functions that move money or apply its effects: a crash in any of them is an alarm.
MONEY_FUNCTIONS = {"UsersFunction", "BalanceFunction", "OrdersFunction", "EscrowFunction", "ResolutionFunction",
                   "DisputesFunction", "TopupsFunction", "WithdrawalsFunction", "WebhooksFunction",
                   "WebhookWorkerFunction", "MonitorFunction", "ReconciliationFunction", "WebhookSenderFunction",
                   "StreamDispatcherFunction", "MigrateFunction"}
WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:*"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from cfnlint.decode import decode_str

    raw, problems = decode_str(TEMPLATE.read_text())
    assert not problems, problems
    return raw


def functions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}


def of_type(resources: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == type_}


def deployed(template: dict[str, Any], **given: str) -> dict[str, Any]:
    """Resources (and Globals) as CloudFormation would create them with these parameters."""
    parameters = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    parameters.update(given)
    conditions = template["Conditions"]

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node and node["Ref"] in parameters:
            text = parameters[node["Ref"]]
            is_list = template["Parameters"][node["Ref"]]["Type"] == "CommaDelimitedList"
            return text.split(",") if is_list else text
        if isinstance(node, dict) and len(node) == 1:
            (fn, args), = node.items()
            if fn == "Condition":
                return holds(args)
            if fn in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::Join"):
                args = [value(a) for a in args]
                return {"Fn::Equals": lambda: str(args[0]) == str(args[1]), "Fn::Not": lambda: not args[0],
                        "Fn::And": lambda: all(args), "Fn::Or": lambda: any(args),
                        "Fn::Join": lambda: args[0].join(args[1])}[fn]()
        return node

    def holds(name: str) -> bool:
        return bool(value(conditions[name]))

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("Ref") in parameters:
                return value(node)
            if "Fn::If" in node:
                name, yes, no = node["Fn::If"]
                return resolve(yes if holds(name) else no)
            return {k: r for k, v in node.items() if (r := resolve(v)) != NO_VALUE}
        if isinstance(node, list):
            return [r for v in node if (r := resolve(v)) != NO_VALUE]
        return node

    resources = {k: resolve(v) for k, v in template["Resources"].items()
                 if "Condition" not in v or holds(v["Condition"])}
    return {"Resources": resources, "Globals": resolve(template["Globals"]), "holds": holds}


def statements(function: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in function["Properties"].get("Policies", []) if isinstance(p, dict)
            for s in p.get("Statement", [])]


def actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def touches_postgres(function: dict[str, Any]) -> bool:
    return "DatabaseSecretArn" in repr(function["Properties"].get("Policies", []))


# 1. Keys outlive the stack ------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,alias,existing", [("WalletKey", "WalletKeyAlias", "ExistingWalletKeyArn"),
                                               ("WebhookSecretsKey", "WebhookSecretsKeyAlias",
                                                "ExistingWebhookSecretsKeyArn")])
def test_keys_and_their_aliases_are_retained_and_an_existing_key_can_be_brought(template, key, alias, existing):
    for name in (key, alias):
        assert template["Resources"][name]["DeletionPolicy"] == "Retain", name
        assert template["Resources"][name]["UpdateReplacePolicy"] == "Retain", name
    assert template["Parameters"][existing]["Default"] == ""
    arn = "arn:aws:kms:us-east-1:123456789012:key/0b1c2d3e-aaaa-bbbb-cccc-0123456789ab"
    fresh, brought = deployed(template), deployed(template, **{existing: arn})
    assert {key, alias} <= set(fresh["Resources"])
    assert not {key, alias} & set(brought["Resources"])  # the retained alias already names the old key
    variable = {"WalletKey": "WALLET_KMS_KEY_ID", "WebhookSecretsKey": "WEBHOOK_SECRETS_KMS_KEY_ID"}[key]
    assert fresh["Globals"]["Function"]["Environment"]["Variables"][variable] == {"Ref": alias}
    assert brought["Globals"]["Function"]["Environment"]["Variables"][variable] == arn

    def granted(view: dict[str, Any]) -> list[Any]:
        return [s["Resource"] for f in functions(view["Resources"]).values() for s in statements(f)
                if any(a.startswith("kms:") for a in actions(s))]

    # Every function allowed the key is allowed the one in use, whichever it is.
    created = [r for r in granted(fresh) if r == {"Fn::GetAtt": [key, "Arn"]}]
    assert created and len([r for r in granted(brought) if r == arn]) == len(created)
    assert {"Fn::GetAtt": [key, "Arn"]} not in granted(brought)


# 3. Deploys never hang; code never runs ahead of its schema ---------------------------------------------------

def test_the_migration_answers_within_its_service_timeout(template):
    migration = template["Resources"]["DatabaseMigration"]["Properties"]
    timeout = template["Resources"]["MigrateFunction"]["Properties"]["Timeout"]
    assert timeout + 60 <= int(migration["ServiceTimeout"]) < 3600


def test_every_function_that_reads_postgres_waits_for_the_migration(template):
    fns = functions(template["Resources"])
    readers = {name for name, fn in fns.items() if touches_postgres(fn)} - {"MigrateFunction"}
    assert {"OrdersFunction", "MonitorFunction", "WsConnectFunction"} <= readers
    for name in readers:
        depends = fns[name].get("DependsOn", [])
        assert "DatabaseMigration" in ([depends] if isinstance(depends, str) else depends), name


def test_the_migration_waits_for_the_managed_database_behind_its_proxy(template):
    props = deployed(template, **MANAGED_DATABASE)["Resources"]["DatabaseMigration"]["Properties"]
    assert props["Database"] == {"Ref": "DatabaseProxyTargetGroup"}
    target = template["Resources"]["DatabaseProxyTargetGroup"]
    assert {"DatabaseInstance", "DatabaseSecretAttachment"} <= set(target["DependsOn"])


# 4. Failures are seen -----------------------------------------------------------------------------------------

def test_every_function_logs_to_its_own_log_group_with_retention(template):
    resources = template["Resources"]
    for name, fn in functions(resources).items():
        group_ref = fn["Properties"]["LoggingConfig"]["LogGroup"]
        group = resources[group_ref["Ref"]]
        assert group["Type"] == "AWS::Logs::LogGroup", name
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group.get("Condition") == fn.get("Condition"), name  # no orphan group, no missing one
    assert resources["HttpApiAccessLogs"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert template["Globals"]["Function"]["LoggingConfig"]["LogFormat"] == "JSON"


def test_tracing_and_metrics_are_configured_for_powertools(template):
    fn_globals = template["Globals"]["Function"]
    assert fn_globals["Tracing"] == "Active"
    assert fn_globals["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == {
        "Fn::Sub": "OfferHub/${AWS::StackName}"}  # one namespace per stack: stages never share alarms
    for name, fn in functions(template["Resources"]).items():
        assert fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"], name


def test_access_logs_carry_the_integration_error_and_latencies(template):
    fmt = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]["Format"]
    for variable in ("$context.requestId", "$context.status", "$context.integrationErrorMessage",
                     "$context.integrationLatency", "$context.responseLatency"):
        assert variable in fmt


def alarms(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in of_type(resources, "AWS::CloudWatch::Alarm").items()}


def test_every_alarm_notifies_the_alarm_topic_which_an_email_may_follow(template):
    found = alarms(template["Resources"])
    assert len(found) >= 8
    for name, props in found.items():
        assert {"Ref": "AlarmTopic"} in props["AlarmActions"], name
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail" and template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert "AlarmEmailSubscription" in deployed(template, AlarmEmail="ops@example.com")["Resources"]


def test_the_named_metrics_and_the_api_5xx_rate_are_alarmed(template):
    from offerhub.observability import DEFAULT_NAMESPACE, METRICS

    assert ALARMED_METRICS <= set(METRICS) and DEFAULT_NAMESPACE == "OfferHub"  # the names the code emits
    text = repr(alarms(template["Resources"]))
    for metric in ALARMED_METRICS:
        assert f"({metric}) FROM \"OfferHub/${{AWS::StackName}}\"'" in text, metric  # any dimensions
    five_xx = alarms(template["Resources"])["HttpApi5xxRateAlarm"]
    stats = {m["MetricStat"]["Metric"]["MetricName"]: m["MetricStat"]["Metric"] for m in five_xx["Metrics"]
             if "MetricStat" in m}
    assert set(stats) == {"5xx", "Count"}
    assert all({"Name": "ApiId", "Value": {"Ref": "HttpApi"}} in m["Dimensions"] for m in stats.values())


def test_every_money_function_has_its_errors_alarmed(template):
    watched = {d["Value"]["Ref"] for props in alarms(template["Resources"]).values()
               for m in props.get("Metrics", []) if m.get("MetricStat", {}).get("Metric", {}).get("MetricName")
               == "Errors" for d in m["MetricStat"]["Metric"]["Dimensions"]}
    queue_or_schedule = {name for name, fn in functions(template["Resources"]).items()
                         if any(e["Type"] in ("SQS", "Schedule") for e in fn["Properties"].get("Events", {}).values())}
    assert MONEY_FUNCTIONS | queue_or_schedule <= watched
    for props in alarms(template["Resources"]).values():  # CloudWatch takes 10 metrics per alarm at most
        assert len([m for m in props.get("Metrics", []) if "MetricStat" in m]) <= 10


def test_every_dead_letter_queue_is_alarmed(template):
    resources = template["Resources"]
    targets = {q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
               for q in of_type(resources, "AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"]}
    dead_letter_queues = targets | {"ScheduledJobsDeadLetterQueue"}
    watched = {d["Value"]["Fn::GetAtt"][0] for props in alarms(resources).values()
               if props.get("MetricName") == "ApproximateNumberOfMessagesVisible" for d in props["Dimensions"]}
    assert {"WebhookDeadLetterQueue", "ScheduledJobsDeadLetterQueue"} <= dead_letter_queues <= watched


def test_a_stopped_monitor_is_alarmed_too(template):
    stalled = alarms(template["Resources"])["MonitorStalledAlarm"]
    assert stalled["MetricName"] == "Invocations" and stalled["TreatMissingData"] == "breaching"


def test_the_scheduled_money_jobs_park_their_failed_runs(template):
    resources = template["Resources"]
    scheduled = {name: fn for name, fn in functions(resources).items()
                 if any(e["Type"] == "Schedule" for e in fn["Properties"].get("Events", {}).values())}
    assert set(scheduled) == {"MonitorFunction", "ReconciliationFunction", "StreamDispatcherFunction",
                              "WebhookSenderFunction", "ActivationRelayFunction"}
    dlq = {"Fn::GetAtt": ["ScheduledJobsDeadLetterQueue", "Arn"]}
    for name, fn in scheduled.items():
        invoke = fn["Properties"]["EventInvokeConfig"]
        assert invoke["MaximumRetryAttempts"] == 0, name  # the next run resumes; two would overlap
        assert invoke["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": dlq}, name
        for event in fn["Properties"]["Events"].values():
            assert event["Properties"]["DeadLetterConfig"] == {"Arn": dlq}, name
    policy = resources["ScheduledJobsDeadLetterQueuePolicy"]["Properties"]
    statement, = policy["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"


# 5. It deploys on a new account -------------------------------------------------------------------------------

def test_no_concurrency_is_reserved_unless_asked(template):
    fresh = deployed(template)
    assert "ReservedConcurrentExecutions" not in fresh["Globals"]["Function"]
    for name, fn in functions(fresh["Resources"]).items():
        assert "ReservedConcurrentExecutions" not in fn["Properties"], name
    capped = deployed(template, FunctionReservedConcurrency="5", ReserveJobConcurrency="true")
    assert capped["Globals"]["Function"]["ReservedConcurrentExecutions"] == "5"
    jobs = {n: f["Properties"]["ReservedConcurrentExecutions"] for n, f in functions(capped["Resources"]).items()
            if "ReservedConcurrentExecutions" in f["Properties"]}
    assert jobs == {"MonitorFunction": 1, "ReconciliationFunction": 1, "WebhookSenderFunction": 1,
                    "ActivationRelayFunction": 1,
                    "StreamDispatcherFunction": 2}


def test_functions_run_outside_a_vpc_unless_subnets_are_given(template):
    assert "VpcConfig" not in deployed(template, **OWN_DATABASE)["Globals"]["Function"]
    inside = deployed(template, **OWN_DATABASE, VpcSubnetIds="subnet-1,subnet-2", VpcSecurityGroupIds="sg-1")
    assert inside["Globals"]["Function"]["VpcConfig"] == {"SubnetIds": ["subnet-1", "subnet-2"],
                                                          "SecurityGroupIds": ["sg-1"]}


def test_read_only_functions_cannot_write_dynamodb(template):
    for name, fn in functions(template["Resources"]).items():
        events = fn["Properties"].get("Events", {}).values()
        if not events or any(e["Type"] != "HttpApi" or e["Properties"]["Method"] != "GET" for e in events):
            continue
        policies = fn["Properties"].get("Policies", [])
        assert not any("DynamoDBCrudPolicy" in p or "DynamoDBWritePolicy" in p for p in policies), name
        assert not any(actions(s) & WRITES for s in statements(fn)), name


def test_post_routes_may_record_idempotency_keys(template):
    """Idempotency-Key records are written for POSTs with an API key (http/lambda_entry.py): those functions
    need the table; provider webhooks carry no key and so need none."""
    source = (ROOT / "layers/shared/offerhub/http/lambda_entry.py").read_text()
    assert 'method == "POST" and key is not None' in source
    for name, fn in functions(template["Resources"]).items():
        methods = {e["Properties"]["Method"] for e in fn["Properties"].get("Events", {}).values()
                   if e["Type"] == "HttpApi"}
        if "POST" in methods and name != "WebhooksFunction":
            assert any("DynamoDBCrudPolicy" in p for p in fn["Properties"]["Policies"]), name


def test_test_helpers_are_not_deployed_in_prod(template):
    assert template["Resources"]["TestHelpersFunction"]["Condition"] == "IsNotProd"
    assert template["Conditions"]["IsNotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    prod = deployed(template, Stage="prod", **OWN_DATABASE)["Resources"]
    dev = deployed(template, Stage="dev", **OWN_DATABASE)["Resources"]
    assert "TestHelpersFunction" in dev and "TestHelpersLogGroup" in dev
    assert not [name for name in prod if name.startswith("TestHelpers")]


MANAGED_TYPES = {"AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::RDS::DBProxy", "AWS::RDS::DBProxyTargetGroup",
                 "AWS::RDS::DBSubnetGroup", "AWS::SecretsManager::SecretTargetAttachment", "AWS::EC2::SecurityGroup",
                 "AWS::EC2::VPCEndpoint", "AWS::EC2::SecurityGroupIngress"}


def test_your_own_database_creates_nothing_of_the_managed_one(template):
    own = deployed(template, **OWN_DATABASE)
    assert not {r["Type"] for r in own["Resources"].values()} & MANAGED_TYPES
    assert "DatabaseSecret" not in own["Resources"]
    env = own["Globals"]["Function"]["Environment"]["Variables"]
    assert env["DATABASE_HOST"] == OWN_DATABASE["DatabaseHost"]
    assert env["DATABASE_SECRET_ARN"] == OWN_DATABASE["DatabaseSecretArn"]
    granted = [p["AWSSecretsManagerGetSecretValuePolicy"]["SecretArn"] for f in functions(own["Resources"]).values()
               for p in f["Properties"].get("Policies", []) if "AWSSecretsManagerGetSecretValuePolicy" in p]
    assert OWN_DATABASE["DatabaseSecretArn"] in granted and {"Ref": "DatabaseSecret"} not in granted


def test_without_a_host_the_stack_creates_aurora_serverless_behind_a_proxy(template):
    managed = deployed(template, **MANAGED_DATABASE)
    resources = managed["Resources"]
    for name, resource in template["Resources"].items():
        if resource["Type"] in MANAGED_TYPES or name == "DatabaseSecret":
            assert "Condition" in resource, name  # nothing of it exists with your own database
    cluster = resources["DatabaseCluster"]
    assert cluster["DeletionPolicy"] == cluster["UpdateReplacePolicy"] == "Snapshot"
    assert cluster["Properties"]["Engine"] == "aurora-postgresql" and cluster["Properties"]["StorageEncrypted"]
    assert "ServerlessV2ScalingConfiguration" in cluster["Properties"]
    assert resources["DatabaseInstance"]["Properties"]["DBInstanceClass"] == "db.serverless"
    assert "GenerateSecretString" in resources["DatabaseSecret"]["Properties"]
    assert resources["DatabaseSecretAttachment"]["Properties"]["TargetId"] == {"Ref": "DatabaseCluster"}
    assert resources["DatabaseProxy"]["Properties"]["RequireTLS"] is True
    env = managed["Globals"]["Function"]["Environment"]["Variables"]
    assert env["DATABASE_HOST"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
    assert env["DATABASE_SECRET_ARN"] == {"Ref": "DatabaseSecret"}
    endpoints = {r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]
                 for r in of_type(resources, "AWS::EC2::VPCEndpoint").values()}
    assert endpoints == {"secretsmanager", "kms", "sqs", "dynamodb"}
    assert {"Ref": "FunctionSecurityGroup"} in managed["Globals"]["Function"]["VpcConfig"]["SecurityGroupIds"]


def test_a_managed_database_is_refused_without_a_vpc(template):
    rule = template["Rules"]["ManagedDatabaseNeedsAVpc"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "DatabaseHost"}, ""]}
    asserted = repr(rule["Assertions"])
    assert "VpcId" in asserted and "VpcSubnetIds" in asserted


# Issue 10 leftovers -------------------------------------------------------------------------------------------

def test_the_stage_throttle_sits_far_above_the_per_key_rate_limits(template):
    settings = template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert settings == {"ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"},
                        "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"}}
    assert template["Parameters"]["ApiThrottleRateLimit"]["Default"] >= 1000
    assert template["Parameters"]["ApiThrottleBurstLimit"]["Default"] >= 2000


def test_amount_limits_are_parameters_with_the_codes_defaults(template):
    from offerhub.config import DEFAULT_LIMITS

    env = template["Globals"]["Function"]["Environment"]["Variables"]
    for kind, bounds in DEFAULT_LIMITS.items():
        for end, default in zip(("Min", "Max"), bounds, strict=True):
            parameter = env[f"{kind.upper()}_{end.upper()}_AMOUNT"]["Ref"]
            assert parameter == f"{kind.capitalize()}{end}Amount"
            assert template["Parameters"][parameter]["Default"] == default


# samconfig.toml ------------------------------------------------------------------------------------------------

def test_samconfig_overrides_only_parameters_the_template_has(template):
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env in ("default", "dev", "prod"):
        overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
        names = {item.split("=", 1)[0] for item in overrides.split()}
        assert names <= set(template["Parameters"]), env
    assert "LogRetentionDays=365" in config["prod"]["deploy"]["parameters"]["parameter_overrides"]


# make run reads the same template (local/template.py) ----------------------------------------------------------

def test_make_run_resolves_the_conditional_settings_with_the_parameters_defaults():
    from local import template as tpl

    local = tpl.load()
    assert local.condition("CreateWalletKey") and local.condition("IsNotProd") and not local.condition("HasVpc")
    env = tpl.resolve_env(local, {"WalletKeyAlias": "alias/w", "WebhookSecretsKeyAlias": "alias/s"})
    assert env["WALLET_KMS_KEY_ID"] == "alias/w" and env["WEBHOOK_SECRETS_KMS_KEY_ID"] == "alias/s"
    assert env["TOPUP_MAX_AMOUNT"] == "10000.00"
    assert "TestHelpersFunction" in local.functions
    assert set(local.resources_of("AWS::KMS::Key")) == {"WalletKey", "WebhookSecretsKey"}  # created by default
    assert not local.resources_of("AWS::EC2::VPCEndpoint")  # no VPC by default: no endpoints
