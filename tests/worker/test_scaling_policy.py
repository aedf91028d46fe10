"""The scaling rules as a pure function: made-up samples, no loop, no broker, no waiting."""

from __future__ import annotations

import pytest

from workerkit.worker.scaling import Sample, ScalingPolicy

POLICY = ScalingPolicy(5, 20, up_after=0.2, down_after=1.0)


def samples(
    start: float, end: float, *, busy: int, depth: int = 0, ready: int = 0, latency: float = 0.05
) -> list[Sample]:
    """One sample every 0.2 s from ``start`` to ``end`` inclusive, each ``busy`` throughout."""
    n = round((end - start) / 0.2)
    return [
        Sample(start + i * 0.2, busy, ready, depth, latency, used=busy, span=0.2)
        for i in range(n + 1)
    ]


def test_a_large_backlog_raises_to_the_maximum_in_one_step() -> None:
    d = POLICY.decide(5, samples(0.2, 0.4, busy=5, depth=400), since=0.0)
    assert d is not None and d.new == 20
    assert "5.0 of 5 slots busy, 400 waiting" in d.why


def test_a_small_backlog_of_quick_messages_adds_one_slot() -> None:
    d = POLICY.decide(5, samples(0.2, 0.4, busy=5, depth=2, latency=0.01), since=0.0)
    assert d is not None and d.new == 6


def test_saturation_shorter_than_up_after_does_not_raise() -> None:
    brief = [Sample(0.1, 5, 0, 400, 0.05, used=5, span=0.1)]
    assert POLICY.decide(5, brief, since=0.0) is None


def test_saturation_must_be_unbroken_to_raise() -> None:
    history = [
        Sample(0.1, 5, 0, 50, 0.05, used=5, span=0.1),
        Sample(0.2, 3, 0, 0, 0.05, used=3, span=0.1),
        Sample(0.3, 5, 0, 50, 0.05, used=5, span=0.1),
    ]
    assert POLICY.decide(5, history, since=0.0) is None


def test_slots_busy_most_of_the_time_with_a_backlog_count_as_full() -> None:
    # after each ack a slot waits one round trip for its next message: rarely all 5 at once
    history = [Sample(0.2, 4, 0, 900, 0.01, used=4.1, span=0.2)]
    d = POLICY.decide(5, history, since=0.0)
    assert d is not None and d.new == 14
    assert "4.1 of 5 slots busy, 900 waiting, 10 ms per message" in d.why


def test_busy_slots_without_waiting_messages_do_not_raise() -> None:
    assert POLICY.decide(5, samples(0.2, 3.0, busy=5, depth=0), since=0.0) is None


def test_waiting_messages_with_free_slots_do_not_raise() -> None:
    # e.g. messages held back behind their ordering key: more slots would not start them
    assert POLICY.decide(5, samples(0.2, 3.0, busy=3, depth=40), since=0.0) is None


def test_the_maximum_is_never_exceeded() -> None:
    assert POLICY.decide(20, samples(0.2, 3.0, busy=20, depth=10_000), since=0.0) is None
    d = POLICY.decide(19, samples(0.2, 0.4, busy=19, depth=10_000), since=0.0)
    assert d is not None and d.new == 20


def test_idle_slots_lower_to_the_minimum_after_a_full_window() -> None:
    assert POLICY.decide(20, samples(0.2, 0.8, busy=0), since=0.0) is None
    d = POLICY.decide(20, samples(0.2, 1.0, busy=0), since=0.0)
    assert d is not None and d.new == 5
    assert "at most 0 of 20 slots busy" in d.why


def test_lowering_keeps_headroom_above_the_peak_seen() -> None:
    history = samples(0.2, 1.0, busy=7) + samples(1.2, 1.2, busy=10)
    d = POLICY.decide(20, history, since=0.0)
    assert d is not None and d.new == 13  # ceil(10 * 1.25)


def test_slots_busy_near_the_current_value_are_not_cut() -> None:
    assert POLICY.decide(20, samples(0.2, 5.0, busy=17), since=0.0) is None


def test_slots_idle_while_the_queue_holds_messages_are_not_cut() -> None:
    # slots wait for the broker's next delivery after each ack: a gap, not a lack of work
    assert POLICY.decide(20, samples(0.2, 5.0, busy=12, depth=3000), since=0.0) is None
    assert POLICY.decide(20, samples(0.2, 5.0, busy=0, ready=1), since=0.0) is None


def test_the_minimum_is_never_undercut() -> None:
    assert POLICY.decide(5, samples(0.2, 5.0, busy=0), since=0.0) is None


def test_no_cut_within_a_window_of_the_last_change() -> None:
    assert POLICY.decide(20, samples(10.2, 10.8, busy=0), since=10.0) is None


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="minimum <= maximum"):
        ScalingPolicy(10, 5)


def simulate(demand: list[int], *, start: int = 5) -> list[tuple[float, int, int]]:
    """Feed the policy a load given as slots wanted per 0.2 s tick; return the changes."""
    current, since, window, changes = start, 0.0, [], []
    for i, want in enumerate(demand):
        now = (i + 1) * 0.2
        busy = min(want, current)
        depth = max(0, want - current) * 10
        window.append(Sample(now, busy, 0, depth, 0.05, used=busy, span=0.2))
        d = POLICY.decide(current, window, since)
        if d is not None:
            changes.append((now, current, d.new))
            current, since, window = d.new, now, []
    return changes


def test_a_steady_load_settles_and_then_never_changes() -> None:
    wobble = [7, 8, 6, 8, 7, 5, 8, 6] * 40  # about 64 s of a load that needs 5 to 8 slots
    changes = simulate([20] * 10 + wobble)
    assert changes and all(at < 4.0 for at, _, _ in changes), changes


def test_a_load_that_flickers_around_the_current_value_changes_it_once() -> None:
    assert simulate([6, 4] * 200) == [(0.2, 5, 6)]


def test_bursts_closer_than_a_window_keep_the_slots_instead_of_flapping() -> None:
    bursts = ([20] * 3 + [0] * 4) * 60  # 0.6 s of backlog every 1.4 s for 84 s
    changes = simulate(bursts)
    assert all(new > old for _, old, new in changes), changes
    assert changes[-1][2] == 20 and changes[-1][0] < 10.0


def test_a_raise_waits_up_after_and_a_cut_waits_down_after_the_last_change() -> None:
    bursts = ([20] * 3 + [0] * 10) * 20
    changes = simulate(bursts)
    assert len(changes) >= 10
    for (t1, _, _), (t2, old, new) in zip(changes, changes[1:], strict=False):
        assert t2 - t1 >= (0.2 if new > old else 1.0) - 1e-9


def test_a_short_peak_between_samples_keeps_room_for_itself() -> None:
    history = samples(0.2, 1.0, busy=2)
    history[2] = Sample(0.6, 2, 0, 0, 0.05, used=3.0, span=0.2, peak=12)
    d = POLICY.decide(20, history, since=0.0)
    assert d is not None and d.new == 15
