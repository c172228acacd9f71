"""The operation registry."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vegafs.engine import CancelToken, Progress
from vegafs.ops.confine import confine_selection


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
    # The spec with every path it names confined to the roots (ops.confine), or PathNotAllowed.
    confine: Callable[[Any, Sequence[Path]], Any] = confine_selection
    # Raises what running the spec would raise before any work (SelectionError naming the
    # field), so that the API refuses a bad job when it is submitted, not when it runs.
    check: Callable[[Any], None] = lambda spec: spec.selection.check()
    # Splits a result into its summary and its rows (stored apart; rows are paged).
    split: Callable[[Any], "tuple[dict[str, Any], Iterable[BaseModel]]"] = lambda result: (
        result.model_dump(mode="json"),
        (),
    )
    # Results may be served from the cache (for a read-only operation on unchanged input).
    cacheable: bool = False

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
