"""The counting parts on their own: sliding windows and half-open probe rounds."""

from __future__ import annotations

import pytest

from workerkit.breakers.probes import ProbeRound
from workerkit.breakers.window import CountWindow, TimeWindow


def test_a_count_window_keeps_running_totals_of_its_last_calls() -> None:
    window = CountWindow(3)
    for failed, slow in [(True, False), (False, True), (True, True), (False, False)]:
        window.record(0.0, failed, slow)
    assert (window.calls, window.failures, window.slow) == (3, 1, 2)


def test_a_fast_success_into_a_full_count_window_reports_that_no_rate_rose() -> None:
    window = CountWindow(2)
    assert window.record(0.0, False, False)  # still filling: the minimum may be reached
    assert window.record(0.0, True, False)
    assert not window.record(0.0, False, False)
    assert window.record(0.0, False, True)


def test_a_time_window_clears_each_second_as_it_leaves() -> None:
    window = TimeWindow(3)
    window.record(10.2, True, False)
    window.record(11.5, False, False)
    window.record(12.9, False, True)
    assert (window.calls, window.failures, window.slow) == (3, 1, 1)
    window.advance(13.0)  # second 10 has left
    assert (window.calls, window.failures, window.slow) == (2, 0, 1)
    window.advance(100.0)  # a long silence empties it
    assert window.calls == 0


def test_a_time_window_files_a_late_outcome_under_its_own_second() -> None:
    window = TimeWindow(3)
    window.record(12.0, False, False)
    window.record(11.5, True, False)  # finished earlier, recorded later (another thread)
    window.record(5.0, True, False)  # so late it has left the window
    assert (window.calls, window.failures) == (2, 1)
    window.advance(14.0)
    assert (window.calls, window.failures) == (1, 0)


@pytest.mark.parametrize("size", [0, -1])
def test_windows_refuse_an_empty_size(size: int) -> None:
    with pytest.raises(ValueError):
        CountWindow(size)
    with pytest.raises(ValueError):
        TimeWindow(size)


def test_a_probe_round_hands_out_only_its_permits_and_takes_back_unused_ones() -> None:
    probes = ProbeRound(2, failure_pct=50.0, slow_pct=100.0)
    assert probes.take() and probes.take()
    assert not probes.take()
    probes.give_back()
    assert probes.take()


@pytest.mark.parametrize(
    ("outcomes", "verdicts"),
    [
        ("s", ["closed"]),
        ("f", ["open"]),
    ],
)
def test_a_single_probe_decides_at_once(outcomes: str, verdicts: list[str]) -> None:
    probes = ProbeRound(1, failure_pct=50.0, slow_pct=100.0)
    assert [probes.record(o == "f", False) for o in outcomes] == verdicts


@pytest.mark.parametrize(
    ("outcomes", "verdicts"),
    [
        ("ss", [None, "closed"]),
        ("ff", [None, "open"]),
        ("fss", [None, None, "closed"]),
        ("sff", [None, None, "open"]),
    ],
)
def test_three_probes_at_fifty_percent_decide_when_certain(
    outcomes: str, verdicts: list[str | None]
) -> None:
    probes = ProbeRound(3, failure_pct=50.0, slow_pct=100.0)
    assert [probes.record(o == "f", False) for o in outcomes] == verdicts


def test_slow_probes_reopen_like_failed_ones() -> None:
    probes = ProbeRound(2, failure_pct=50.0, slow_pct=50.0)
    assert probes.record(False, True) == "open"
