"""Waiting in tests: poll a condition until it holds, with a generous deadline.

A fixed sleep followed by an assertion fails on a loaded machine and wastes time on an idle
one; tests wait for the state they need instead, and fail with a message naming what never came.
"""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE_S = 60.0


def wait_for(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float = DEADLINE_S,
    interval: float = 0.05,
    context: Callable[[], str] | None = None,
) -> T:
    """Call ``check`` until it returns something truthy, and return that; after ``timeout``
    seconds fail naming ``what`` (and ``context()``, e.g. a service's logs)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f":\n{context()}" if context is not None else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(interval)
