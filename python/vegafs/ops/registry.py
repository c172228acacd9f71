"""The operation registry."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from vegafs.engine import CancelToken, Progress


@dataclass(frozen=True)
class RunContext:
    """What a caller shares with a running operation: its progress counters and cancel token."""

    progress: Progress = field(default_factory=Progress)
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass(frozen=True)
class Operation:
    name: str
    summary: str
    spec: type[BaseModel]
    result: type[BaseModel]
    run: Callable[[Any, RunContext], BaseModel]
    mutates: bool = False

    def params_schema(self) -> dict[str, Any]:
        """JSON Schema of the operation's parameters."""
        return self.spec.model_json_schema()


_REGISTRY: dict[str, Operation] = {}


def register(op: Operation) -> Operation:
    if op.name in _REGISTRY:
        raise ValueError(f"operation {op.name!r} registered twice")
    _REGISTRY[op.name] = op
    return op


def get(name: str) -> Operation:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown operation {name!r} (known: {known})") from None


def all_operations() -> list[Operation]:
    return sorted(_REGISTRY.values(), key=lambda op: op.name)


def run(name: str, params: BaseModel | dict[str, Any], ctx: RunContext | None = None) -> BaseModel:
    """Validate ``params`` against the operation's spec and run it."""
    op = get(name)
    spec = params if isinstance(params, op.spec) else op.spec.model_validate(params)
    return op.run(spec, ctx or RunContext())
