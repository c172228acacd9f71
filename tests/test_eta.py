"""The ETA a job's progress gives where its total is known (vegafs/eta.py): the formula on known
inputs, and a plan's steps as its apply advances them (a fixed clock: no timing)."""

import pytest

from vegafs.eta import Steps, eta_s


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
