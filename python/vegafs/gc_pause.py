"""``gc_paused()``: Python's cyclic garbage collector held off while a writing operation makes
and keeps its plan (hundreds of thousands of rows, steps and journal parameters, none of them in
a reference cycle): the collector's passes over them grow longer as they pile up, and cost a
copy of 100,000 files a sizeable share of its Python work."""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class _Pause:
    """How many ``gc_paused()`` blocks run (a worker's threads may overlap), and whether the
    collector was on when the first began."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held = 0
        self.was_enabled = False


_PAUSE = _Pause()


@contextmanager
def gc_paused() -> Iterator[None]:
    """The collector off inside the block; back on when the last block running ends, if it was
    on when the first began. Objects still live are then collected as usual."""
    with _PAUSE.lock:
        if _PAUSE.held == 0:
            _PAUSE.was_enabled = gc.isenabled()
            gc.disable()
        _PAUSE.held += 1
    try:
        yield
    finally:
        with _PAUSE.lock:
            _PAUSE.held -= 1
            if _PAUSE.held == 0 and _PAUSE.was_enabled:
                gc.enable()
