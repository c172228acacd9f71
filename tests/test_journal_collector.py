"""The cycle collector is paused while writing operations plan and apply, and comes back on as
it was once the last of them ends."""

import gc
import threading

from vegafs.journal import _collector_paused


def test_the_collector_is_off_while_an_operation_runs_and_on_after_the_last_ends() -> None:
    assert gc.isenabled()
    inner_started, outer_may_end = threading.Event(), threading.Event()
    seen: list[bool] = []

    def another_operation() -> None:
        with _collector_paused():
            inner_started.set()
            outer_may_end.wait(timeout=60)
            seen.append(gc.isenabled())
        seen.append(gc.isenabled())

    with _collector_paused():
        assert not gc.isenabled()
        other = threading.Thread(target=another_operation)
        other.start()
        assert inner_started.wait(timeout=60)
    # The first one ended, the other still runs: still off.
    assert not gc.isenabled()
    outer_may_end.set()
    other.join(timeout=60)
    assert seen == [False, True]
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off() -> None:
    gc.disable()
    try:
        with _collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
