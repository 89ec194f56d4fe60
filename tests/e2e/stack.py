"""The local stack as a person runs it, for the end-to-end tests (local/launcher.py), with its failures as test
failures."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from local import launcher
from local.functions import ROOT

__all__ = ["MASTER", "ROOT", "Stack", "eventually", "free_port"]
MASTER = "e2e-master-key-" + "m" * 20
free_port = launcher.free_port


class Stack(launcher.StackProcess):
    def __init__(self, env: dict[str, str]):
        try:
            super().__init__({**os.environ, "PORT": "", "MOTO_PORT": "", **env, "OFFERHUB_MASTER_KEY": MASTER})
        except RuntimeError as exc:
            pytest.fail(str(exc))

    def stop(self, timeout: float = 30) -> int:
        try:
            return super().stop(timeout)
        except RuntimeError as exc:
            pytest.fail(str(exc))


def eventually(probe: Callable[[], Any], what: str = "a condition", timeout: float = 60.0,
               interval: float = 0.1) -> Any:
    try:
        return launcher.eventually(probe, what, timeout, interval)
    except TimeoutError as exc:
        pytest.fail(str(exc))
