"""Observability for the layer, built in one place: the logger (Powertools: JSON logs with the Lambda context and
the request id), and below it the tracer (`traced`), the metrics (`count`), the entry points' decorator
(`instrumented`) and the request ids (`correlate`). Domain code imports these, never Powertools.

Powertools keeps the keys that `inject_lambda_context` and `set_correlation_id` add (function_name,
function_request_id, cold_start, correlation_id, ...) in one dict per process. That is right in Lambda, where a
process serves one invocation at a time, and wrong wherever handlers share a process and run at once: in
`make run` and the tests, each handler runs on a worker thread, and every line would carry the keys of whichever
invocation started last. So the formatter keeps those keys in a ContextVar instead: each thread (or each
copied context, as Starlette's thread pool uses) gets its own copy the first time it writes one, and a context
that has written none sees the keys the logger was built with. In Lambda nothing changes.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.shared.functions import strtobool

from offerhub.adapters import snapstart  # noqa: F401 - registers the SnapStart hooks during every function's init
from offerhub.core.errors import ProviderError, ProviderTimeout

_KEYS: ContextVar[dict[str, Any] | None] = ContextVar("offerhub_log_keys", default=None)


class ContextLocalFormatter(LambdaPowertoolsFormatter):
    """Powertools' formatter with `log_format` (the appended keys) per context rather than per process.

    Until `seal()` (while the Logger is being built) writes go to the shared defaults; after it, to the
    caller's context. The dict is never changed in place once sealed, so contexts never share one."""

    def __init__(self, **options: Any):
        self._shared: dict[str, Any] = {}
        self._sealed = False
        super().__init__(**options)

    def seal(self) -> None:
        self._sealed = True

    @property  # type: ignore[override]
    def log_format(self) -> dict[str, Any]:
        local = _KEYS.get()
        return self._shared if local is None else local

    @log_format.setter
    def log_format(self, value: dict[str, Any]) -> None:
        if self._sealed:
            _KEYS.set(value)
        else:
            self._shared = value

    def append_keys(self, **additional_keys: Any) -> None:
        self.log_format = {**self.log_format, **additional_keys}

    def remove_keys(self, keys: Iterable[str]) -> None:
        dropped = set(keys)
        self.log_format = {k: v for k, v in self.log_format.items() if k not in dropped}

    def get_current_keys(self) -> dict[str, Any]:
        return dict(self.log_format)


_formatter = ContextLocalFormatter(use_rfc3339=True)
logger = Logger(service=None, logger_formatter=_formatter)
_formatter.seal()


# --- Tracing, metrics and the correlation ids (issue 13.4) ---------------------------------------------------
#
# Tracing: Powertools' Tracer (X-Ray) is built only where it can work, in Lambda (not `sam local`) without
# POWERTOOLS_TRACE_DISABLED. Elsewhere it is never built: building it imports aws_xray_sdk (~0.3 s), and
# `traced()` then hands back one shared do-nothing context manager, so a disabled span costs one call and one
# `with` (a fraction of a microsecond; bench in tests/test_observability.py). Adapters open their span at their
# edge: `with traced("horizon", provider=True): ...`. Besides botocore (KMS, DynamoDB, Secrets Manager, SQS),
# nothing is patched: each rail call is one named subsegment around its retries.
#
# Metrics: EMF documents on stdout (Powertools' CloudWatch EMF provider), namespace POWERTOOLS_METRICS_NAMESPACE
# (default `OfferHub`), with no dimensions, so an alarm matches on the metric name alone; the function's service
# and request id ride along as plain properties. Each invocation buffers its own (a ContextVar: handlers share
# a process in `make run` and the tests) and `instrumented` flushes them once when the handler returns or
# raises. A count made outside any invocation (a thread that did not copy the context) is written at once.
# Metrics are on in Lambda (unless POWERTOOLS_METRICS_DISABLED / POWERTOOLS_DEV say otherwise) and off
# elsewhere unless POWERTOOLS_METRICS_DISABLED is set to a false value, so local runs stay quiet. Like the
# tracer, that is decided once per process (`metrics_on`): reading the environment per request cost more than
# everything else here put together.

DEFAULT_NAMESPACE = "OfferHub"
DEPOSITS_CREDITED = "DepositsCredited"  # a Stellar deposit or an Airtm top-up credited to a user
PAYOUTS_COMPLETED = "PayoutsCompleted"  # a withdrawal reached WITHDRAWAL_COMPLETED
PROVIDER_ERRORS = "ProviderErrors"  # a Horizon / Trustless Work / Airtm call failed (after its retries)
STEP_RETRIES = "StepRetries"  # a resumable escrow step or payment resumed or rebuilt
RECONCILIATION_DISCREPANCIES = "ReconciliationDiscrepancies"  # a balance.discrepancy audited
MONITOR_LAG_SECONDS = "MonitorLagSeconds"  # how far behind the chain the deposit monitor stopped
METRICS: dict[str, str] = {  # name -> CloudWatch unit; the template's alarms use these names
    DEPOSITS_CREDITED: "Count", PAYOUTS_COMPLETED: "Count", PROVIDER_ERRORS: "Count", STEP_RETRIES: "Count",
    RECONCILIATION_DISCREPANCIES: "Count", MONITOR_LAG_SECONDS: "Seconds",
}
PATCHED_MODULES = ("botocore",)

Handler = Callable[[Any, Any], Any]


def _in_lambda() -> bool:
    return bool(os.getenv("LAMBDA_TASK_ROOT")) and not os.getenv("AWS_SAM_LOCAL") \
        and not os.getenv("AWS_CHALICE_CLI_MODE")


def tracing_enabled() -> bool:
    return _in_lambda() and not strtobool(os.getenv("POWERTOOLS_TRACE_DISABLED") or "false")


def metrics_enabled() -> bool:
    flag = os.getenv("POWERTOOLS_METRICS_DISABLED")
    if flag is not None and flag.strip():
        return not strtobool(flag)
    return _in_lambda() and not strtobool(os.getenv("POWERTOOLS_DEV") or "false")


def _build_tracer() -> Any | None:
    if not tracing_enabled():
        return None
    try:
        from aws_lambda_powertools import Tracer

        tracer = Tracer(auto_patch=False)
        tracer.patch(PATCHED_MODULES)
        return tracer
    except ImportError:  # aws-xray-sdk missing from the layer: run untraced rather than not at all
        logger.warning("tracing requested but aws_xray_sdk is not installed; running untraced")
        return None


tracer: Any | None = _build_tracer()
metrics_on: bool = metrics_enabled()


class _Edge:
    """An adapter edge while tracing is off: no span; a provider's failure still counts."""

    __slots__ = ("provider",)

    def __init__(self, provider: bool):
        self.provider = provider

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> bool:
        if self.provider and kind is not None and issubclass(kind, ProviderError | ProviderTimeout):
            count(PROVIDER_ERRORS)
        return False


class _TracedEdge(_Edge):
    """An adapter edge as an X-Ray subsegment (the exception, if any, recorded on it)."""

    __slots__ = ("_span", "name")

    def __init__(self, name: str, provider: bool):
        super().__init__(provider)
        self.name = name

    def __enter__(self) -> Any:
        self._span = tracer.provider.in_subsegment(name=f"## {self.name}")  # type: ignore[union-attr]
        return self._span.__enter__()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> bool:
        try:
            self._span.__exit__(kind, error, tb)
        finally:
            super().__exit__(kind, error, tb)
        return False


_QUIET_EDGE, _QUIET_PROVIDER_EDGE = _Edge(False), _Edge(True)


def traced(name: str, *, provider: bool = False) -> _Edge:
    """`with traced("postgres"):` — a subsegment named `## postgres` when tracing is on, nothing otherwise.
    `provider=True` (Horizon, Trustless Work, Airtm) also counts ProviderErrors when a ProviderError or
    ProviderTimeout leaves the block, traced or not."""
    if tracer is None:
        return _QUIET_PROVIDER_EDGE if provider else _QUIET_EDGE
    return _TracedEdge(name, provider)


class _Metrics:
    """One invocation's metrics: Powertools' EMF provider, without the service dimension."""

    def __init__(self, context: Any):
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

        self.emf = AmazonCloudWatchEMFProvider(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE)
        service, self.emf.service = self.emf.service, None  # a property, not a dimension: alarms match on names
        for key, value in (("service", service), ("function_name", getattr(context, "function_name", None)),
                           ("function_request_id", getattr(context, "aws_request_id", None))):
            if value:
                self.emf.add_metadata(key=key, value=str(value))

    def add(self, name: str, value: float) -> None:
        self.emf.add_metric(name=name, unit=METRICS[name], value=value)

    def flush(self) -> None:
        if self.emf.metric_set:
            print(json.dumps(self.emf.serialize_metric_set(), separators=(",", ":")), flush=True)
            self.emf.clear_metrics()


_METRICS: ContextVar[_Metrics | None] = ContextVar("offerhub_metrics", default=None)


def count(name: str, value: float = 1) -> None:
    """Add to one of METRICS for the current invocation (flushed by `instrumented`)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; the alarms know only {sorted(METRICS)}")
    if not metrics_on:
        return
    sink = _METRICS.get()
    if sink is None:  # outside an invocation: its own document, at once
        sink = _Metrics(None)
        sink.add(name, value)
        sink.flush()
        return
    sink.add(name, value)


def instrumented(handler: Handler) -> Handler:
    """The entry point's tracing and metrics: goes under `@logger.inject_lambda_context`. The handler runs as
    `## handler` (traced, response not captured) and its metrics are flushed once, however it ends."""
    run = tracer.capture_lambda_handler(handler, capture_response=False) if tracer is not None else handler

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        if not metrics_on:
            return run(event, context)
        sink = _Metrics(context)
        token = _METRICS.set(sink)
        try:
            return run(event, context)
        finally:
            _METRICS.reset(token)
            sink.flush()

    return wrapper


def correlate(request_id: str, event: dict[str, Any]) -> None:
    """The request's ids on its log lines and trace: X-Request-ID as the correlation id, API Gateway's own
    request id beside it as `apigw_request_id` (what API Gateway's access log and its support know)."""
    apigw_request_id = (event.get("requestContext") or {}).get("requestId")
    if apigw_request_id:  # one append (what set_correlation_id does) for both keys
        logger.append_keys(correlation_id=request_id, apigw_request_id=apigw_request_id)
    else:
        logger.set_correlation_id(request_id)
    if tracer is not None:
        tracer.put_annotation("request_id", request_id)
        if apigw_request_id:
            tracer.put_annotation("apigw_request_id", str(apigw_request_id))
