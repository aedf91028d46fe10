"""Percentage rollouts: deterministic, proportional, and monotonic in the percentage."""

from __future__ import annotations

import pytest

from workerkit.switches import Switch
from workerkit.switches.rollout import bucket, in_rollout, threshold

KEYS = [f"tenant-{i}" for i in range(10_000)]


@pytest.mark.parametrize("percent", [1, 10, 25, 50, 75, 99])
def test_about_p_percent_of_ten_thousand_keys_are_in(percent):
    share = sum(in_rollout("checkout", k, percent) for k in KEYS) / len(KEYS) * 100
    assert abs(share - percent) <= 2


def test_raising_the_percentage_only_adds_keys():
    previous: set[str] = set()
    for percent in range(0, 101, 5):
        current = {k for k in KEYS if in_rollout("checkout", k, percent)}
        assert previous <= current
        previous = current
    assert previous == set(KEYS)


def test_buckets_are_pinned_values_of_sha1_not_pythons_salted_hash():
    # a change of algorithm would silently move every tenant between groups: make it loud
    assert [bucket("checkout", k) for k in ("tenant-0", "tenant-1", "42")] == [899, 8910, 5811]


def test_different_salts_pick_different_keys():
    a = {k for k in KEYS if in_rollout("switch-a", k, 50)}
    b = {k for k in KEYS if in_rollout("switch-b", k, 50)}
    assert 0.4 < len(a & b) / len(a) < 0.6  # independent, not the same half


def test_a_partial_rollout_without_a_key_counts_as_off_and_a_full_one_as_on():
    assert Switch("s", on=True, percent=40).plain is False
    assert Switch("s", on=True, percent=100).plain is True
    assert Switch("s", on=True).decide("anyone") is True
    assert Switch("s", on=False, percent=100).decide("anyone") is False


def test_a_percentage_outside_0_to_100_is_rejected():
    with pytest.raises(ValueError, match="between 0 and 100"):
        threshold(101)
    with pytest.raises(ValueError):
        Switch.from_json("s", {"on": True, "percent": "50"})
