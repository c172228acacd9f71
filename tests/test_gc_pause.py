"""gc_paused(): the collector off while any block runs, back as it was when the last ends."""

import gc
import threading

from vegafs.gc_pause import gc_paused


def test_the_collector_is_off_inside_and_back_on_after_the_last_overlapping_block() -> None:
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def other_block() -> None:
        with gc_paused():
            inside.set()
            release.wait(timeout=30)

    other = threading.Thread(target=other_block)
    with gc_paused():
        assert not gc.isenabled()
        other.start()
        assert inside.wait(timeout=30)
    assert not gc.isenabled(), "the other thread's block still runs"
    release.set()
    other.join(timeout=30)
    assert gc.isenabled()


def test_a_collector_turned_off_before_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
