"""One logger for the layer (Powertools: JSON logs with the Lambda context and the request id).

Powertools keeps the keys that `inject_lambda_context` and `set_correlation_id` add (function_name,
function_request_id, cold_start, correlation_id, ...) in one dict per process. That is right in Lambda, where a
process serves one invocation at a time, and wrong wherever handlers share a process and run at once: in
`make run` and the tests, each handler runs on a worker thread, and every line would carry the keys of whichever
invocation started last. So the formatter keeps those keys in a ContextVar instead: each thread (or each
copied context, as Starlette's thread pool uses) gets its own copy the first time it writes one, and a context
that has written none sees the keys the logger was built with. In Lambda nothing changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from offerhub.adapters import snapstart  # noqa: F401 - registers the SnapStart hooks during every function's init

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
