"""The ETA a job's progress gives where its total is known (vegafs/eta.py): the formula on known
inputs, and a plan's steps as its apply advances them (a fixed clock: no timing)."""

from pathlib import Path

import pytest

from vegafs.cache.memory import MemoryCache
from vegafs.eta import Steps, eta_s
from vegafs.jobs.expected import expected_entries, remember, walk_eta


@pytest.mark.parametrize(
    "elapsed, done, total, expected",
    [
        (100.0, 1, 4, 300.0),  # three more at 100 s each
        (10.0, 3, 4, 3.3),
        (7.5, 2, 2, 0.0),  # all done
        (0.0, 1, 3, 0.0),
        (50.0, 0, 4, None),  # nothing done yet: no rate
        (50.0, 0, 0, None),  # no total
    ],
)
def test_the_eta_is_what_is_left_at_the_rate_so_far(
    elapsed: float, done: int, total: int, expected: float | None
) -> None:
    assert eta_s(elapsed, done, total) == expected


def test_a_plans_steps_give_their_eta_once_started() -> None:
    steps = Steps()
    assert steps.progress() is None  # not applying: the walk's progress has no ETA
    steps.start(5000)
    assert steps.started is not None
    t0 = steps.started
    assert steps.progress(now=t0 + 2.0) == {"steps": 5000, "steps_done": 0, "eta_s": None}
    steps.advance(1000)
    assert steps.progress(now=t0 + 2.0) == {"steps": 5000, "steps_done": 1000, "eta_s": 8.0}
    steps.advance(5000)
    assert steps.progress(now=t0 + 9.0) == {"steps": 5000, "steps_done": 5000, "eta_s": 0.0}


@pytest.mark.parametrize(
    "elapsed, entries, expected, eta",
    [
        (2.0, 1000, 5000, 8.0),
        (2.0, 1000, None, None),  # no estimate
        (2.0, 5000, 5000, None),  # met its estimate: the rest is unknown
        (2.0, 6000, 5000, None),  # outgrew it
        (0.5, 0, 5000, None),  # no rate yet
    ],
)
def test_a_walk_has_an_eta_while_it_has_not_met_its_expected_entries(
    elapsed: float, entries: int, expected: int | None, eta: float | None
) -> None:
    assert walk_eta(elapsed, entries, expected) == eta


def test_a_walks_expected_entries_are_its_last_runs_else_a_whole_file_systems_inodes(
    tmp_path: Path, other_fs: Path
) -> None:
    cache = MemoryCache()
    assert expected_entries(cache, "k", [str(tmp_path)]) is None  # not a mount point
    remember(cache, "k", 0)  # nothing met: nothing kept
    assert expected_entries(cache, "k", [str(tmp_path)]) is None
    remember(cache, "k", 1234)
    assert expected_entries(cache, "k", [str(tmp_path)]) == 1234
    # The top of a file system: its inodes in use (as df -i), once for two roots on it.
    (other_fs / "d").mkdir()
    for name in ["a", "b", "d/c"]:
        (other_fs / name).write_bytes(b"x")
    assert expected_entries(cache, "other", [str(other_fs), str(other_fs)]) == 5
    assert expected_entries(cache, "other", [str(other_fs), str(tmp_path)]) is None
    assert expected_entries(cache, "other", ["/proc"]) is None  # counts no inodes
    assert expected_entries(cache, "other", []) is None
