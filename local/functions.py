"""Load Lambda handlers the way the runtime does, and give them a Lambda-like context."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "shared"

Handler = Callable[[dict[str, Any], Any], Any]


def put_layer_on_path() -> None:
    """Lambda puts the layer's python/ on sys.path; locally the layer folder plays that part."""
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))


def load_module(code_uri: str, module_file: str = "app") -> ModuleType:
    """Every function file is called app.py, so each is loaded under its own module name."""
    put_layer_on_path()
    folder = (ROOT / code_uri).resolve()
    module_name = "offerhub_fn_" + folder.name
    with _loading:  # callers on several threads must not see a module that is still executing
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, folder / f"{module_file}.py")
            assert spec and spec.loader, f"no handler module in {folder}"
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[module_name]
                raise
    return module


_loading = threading.RLock()


def load_handler(code_uri: str, handler: str = "app.handler") -> Handler:
    module_file, _, attribute = handler.rpartition(".")
    return getattr(load_module(code_uri, module_file), attribute)


@dataclass
class LambdaContext:
    function_name: str = "offerhub-local"
    timeout_seconds: float = 29.0
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/offerhub-local"
    log_stream_name: str = "local"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))
