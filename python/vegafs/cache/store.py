"""The cache interface and its key scheme."""

import hashlib
import json
from typing import Any, Protocol

KEY_PREFIX = "vegafs:result:v1:"


class Cache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, value: bytes, ttl_s: float) -> None: ...


def result_key(operation: str, spec: dict[str, Any]) -> str:
    """The key of an operation's result: a hash of its canonical (sorted, compact) JSON spec."""
    canonical = json.dumps([operation, spec], sort_keys=True, separators=(",", ":"))
    return KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()
