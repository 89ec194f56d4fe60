"""Read template.yaml: the functions, their HTTP routes and environment, with references resolved locally."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.functions import ROOT

TEMPLATE = ROOT / "template.yaml"
# Locally the plain values (DATABASE_URL, OFFERHUB_MASTER_KEY) stand in for these AWS-only settings.
AWS_ONLY_ENV = {"DATABASE_SECRET_ARN", "DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME",
                "OFFERHUB_MASTER_KEY_SECRET_ARN"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway form: /api/v1/users/{id}
    function: str
    pattern: re.Pattern[str] = field(compare=False)

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def literal_segments(self) -> int:
        """More literal segments = more specific (API Gateway prefers /users/me over /users/{id})."""
        return sum(1 for part in self.path.split("/") if part and not part.startswith("{"))


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: str
    handler: str
    timeout: float
    environment: dict[str, Any]
    schedules: tuple[float, ...] = ()  # seconds between EventBridge schedule runs
    queues: tuple[tuple[str, int], ...] = ()  # (queue logical id, batch size) of its SQS event sources


def _rate_seconds(expression: str) -> float | None:
    """EventBridge `rate(N unit)` in seconds (cron expressions are not run locally)."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return int(match.group(1)) * unit


@dataclass
class Template:
    resources: dict[str, Any]
    parameters: dict[str, Any]
    globals_env: dict[str, Any]
    functions: dict[str, Function]
    routes: list[Route]
    conditions: dict[str, Any] = field(default_factory=dict)

    def resources_of(self, type_: str) -> dict[str, dict[str, Any]]:
        """The resources of a type that exist with the parameters' defaults (a `Condition:` may leave one out)."""
        return {k: v for k, v in self.resources.items() if v.get("Type") == type_ and self.exists(v)}

    def exists(self, resource: dict[str, Any]) -> bool:
        return "Condition" not in resource or self.condition(resource["Condition"])

    def condition(self, name: str) -> bool:
        """A template condition, evaluated with the parameters' defaults (what a bare deploy gets)."""
        return bool(_evaluate(self.conditions[name], self))


def _pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{([A-Za-z0-9_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{regex}$")


def load(path: Path = TEMPLATE) -> Template:
    from cfnlint.decode import decode_str

    raw, problems = decode_str(path.read_text())
    if problems:
        raise RuntimeError(f"template.yaml does not parse: {problems}")
    resources = raw.get("Resources", {})
    globals_fn = raw.get("Globals", {}).get("Function", {})
    functions: dict[str, Function] = {}
    routes: list[Route] = []
    conditions = raw.get("Conditions", {})
    parameters = raw.get("Parameters", {})
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        if "Condition" in resource and not _evaluate(conditions[resource["Condition"]],
                                                     Template({}, parameters, {}, {}, [], conditions)):
            continue  # e.g. the test helpers when the default stage were prod
        props = resource["Properties"]
        schedules = [_rate_seconds(e["Properties"]["Schedule"]) for e in props.get("Events", {}).values()
                     if e.get("Type") == "Schedule"]
        functions[logical_id] = Function(
            logical_id=logical_id,
            code_uri=props["CodeUri"],
            handler=props.get("Handler", globals_fn.get("Handler", "app.handler")),
            timeout=float(props.get("Timeout", globals_fn.get("Timeout", 3))),
            environment=props.get("Environment", {}).get("Variables", {}),
            schedules=tuple(s for s in schedules if s),
            queues=tuple((e["Properties"]["Queue"]["Fn::GetAtt"][0], int(e["Properties"].get("BatchSize", 10)))
                         for e in props.get("Events", {}).values() if e.get("Type") == "SQS"),
        )
        for event in props.get("Events", {}).values():
            if event.get("Type") == "HttpApi":
                method, route_path = event["Properties"]["Method"].upper(), event["Properties"]["Path"]
                routes.append(Route(method, route_path, logical_id, _pattern(route_path)))
    routes.sort(key=lambda r: -r.literal_segments)
    return Template(
        resources=resources,
        parameters=raw.get("Parameters", {}),
        globals_env=globals_fn.get("Environment", {}).get("Variables", {}),
        functions=functions,
        routes=routes,
        conditions=conditions,
    )


def resolve_env(template: Template, physical: dict[str, str], shell: Mapping[str, str] | None = None
                ) -> dict[str, str]:
    """Globals env with !Ref resolved: resources to their local physical ids, parameters to defaults. A
    setting given in `shell` wins over a parameter's default (PAYMENT_PROVIDER=airtm make run), never over
    a resource the local stack created (its table, key, queue)."""
    env: dict[str, str] = {}
    for name, value in template.globals_env.items():
        if name in AWS_ONLY_ENV:
            continue
        value = _choose(value, template)
        is_resource = isinstance(value, dict) and value.get("Ref") in physical
        if shell and name in shell and not is_resource:
            continue
        resolved = _resolve(value, template, physical)
        if resolved is not None:
            env[name] = resolved
    return env


def _resolve(value: Any, template: Template, physical: dict[str, str]) -> str | None:
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        if ref in physical:
            return physical[ref]
        default = template.parameters.get(ref, {}).get("Default")
        return None if default is None else str(default)
    return None  # !Sub and friends: the local stack sets these itself when it needs them


def _choose(value: Any, template: Template) -> Any:
    """The branch of an `!If` that the parameters' defaults select (AWS::NoValue: None)."""
    while isinstance(value, dict) and "Fn::If" in value:
        name, when_true, when_false = value["Fn::If"]
        value = when_true if template.condition(name) else when_false
    if isinstance(value, dict) and value.get("Ref") == "AWS::NoValue":
        return None
    return value


def _evaluate(node: Any, template: Template) -> Any:
    """Condition functions over parameter defaults: Equals, Not, And, Or, Condition, Join, Ref."""
    if not isinstance(node, dict):
        return node
    if "Condition" in node:
        return template.condition(node["Condition"])
    if "Ref" in node:
        default = template.parameters.get(node["Ref"], {}).get("Default", "")
        if template.parameters.get(node["Ref"], {}).get("Type") == "CommaDelimitedList":
            return [part.strip() for part in str(default).split(",")]
        return str(default)
    (function, args), = node.items()
    values = [_evaluate(arg, template) for arg in args] if isinstance(args, list) else _evaluate(args, template)
    if function == "Fn::Equals":
        return str(values[0]) == str(values[1])
    if function == "Fn::Not":
        return not values[0]
    if function == "Fn::And":
        return all(values)
    if function == "Fn::Or":
        return any(values)
    if function == "Fn::Join":
        return values[0].join(values[1])
    raise ValueError(f"local/template.py cannot evaluate {function} in a condition")
