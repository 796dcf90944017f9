"""Loading and invoking the real Lambda handlers of template.yaml, as Lambda would."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the cold-start harness loads this module without PyYAML
    from unigate_tools.template import FunctionSpec

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 256
    timeout_seconds: int = 25
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def module_path(spec: FunctionSpec) -> Path:
    """The file of the function's handler module: functions/<name>/<module>.py."""
    return _module_file(spec.code_dir, spec.handler)


def _module_file(code_dir: Path, handler: str) -> Path:
    module_file, _, _ = handler.rpartition(".")
    return code_dir / f"{module_file.replace('.', '/')}.py"


def load_module(spec: FunctionSpec) -> ModuleType:
    return _load(spec.name, spec.code_dir, spec.handler)


def _load(name: str, code_dir: Path, handler: str) -> ModuleType:
    """Imports functions/<name>/<module>.py under a unique name (every function's module is `app`)."""
    unique = f"unigate_function_{name}"
    if unique in sys.modules:
        return sys.modules[unique]
    path = _module_file(code_dir, handler)
    module_spec = importlib.util.spec_from_file_location(unique, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[unique] = module
    module_spec.loader.exec_module(module)
    return module


def load_handler(spec: FunctionSpec) -> Handler:
    return load_handler_file(spec.name, spec.code_dir, spec.handler)


def load_handler_file(name: str, code_dir: Path, handler: str) -> Handler:
    """The handler `handler` ("module.function") of the function `name` whose code is in `code_dir`."""
    found: Handler = getattr(_load(name, code_dir, handler), handler.rpartition(".")[2])
    return found


_thread_state = threading.local()


def call(handler: Handler, event: dict[str, Any], context: LambdaContext) -> Any:
    """Runs a handler as Lambda does, from any thread: Mangum expects the thread to have an event loop
    (Lambda's main thread has one), so each thread gets its own, made current again on every call (an
    asyncio.run in between leaves the thread without one)."""
    loop = getattr(_thread_state, "loop", None)
    if loop is None or loop.is_closed():
        loop = _thread_state.loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return handler(event, context)


def context_for(spec: FunctionSpec) -> LambdaContext:
    return LambdaContext(function_name=spec.name, memory_limit_in_mb=spec.memory, timeout_seconds=spec.timeout)
