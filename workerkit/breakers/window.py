"""Sliding windows of call outcomes, with running totals so a rate costs O(1) per call.

A breaker asks one question after every call: of the calls in the window, how many failed
and how many were slow? Recomputing that from the raw outcomes would cost O(window) on
the hot path, so both windows keep ``calls``, ``failures`` and ``slow`` up to date as
outcomes enter and leave. Neither class locks: the breaker calls them under its own lock.
"""

from __future__ import annotations

import math


class CountWindow:
    """The last ``size`` calls, whatever their age (Resilience4j's COUNT_BASED window)."""

    __slots__ = ("size", "calls", "failures", "slow", "_ring", "_pos")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a count window needs room for at least one call")
        self.size = size
        self.reset()

    def reset(self) -> None:
        # One byte per call: bit 0 failed, bit 1 slow. A bytearray keeps the ring compact
        # and its item access cheap.
        self._ring = bytearray(self.size)
        self._pos = 0
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def advance(self, now: float) -> None:
        """Age does not matter to a count window; present so both windows read alike."""

    def record(self, now: float, failed: bool, slow: bool) -> bool:
        """Add one outcome; False when no rate can have risen, so no threshold needs a look.

        Shaped for the common case, a fast success replacing a fast success: no arithmetic.
        """
        pos = self._pos
        ring = self._ring
        risen = self.calls < self.size  # a growing window can newly reach the minimum
        if risen:
            self.calls += 1
        else:
            old = ring[pos]
            if old:
                self.failures -= old & 1
                self.slow -= old >> 1
        if failed or slow:
            ring[pos] = failed | (slow << 1)
            self.failures += failed
            self.slow += slow
            risen = True
        else:
            ring[pos] = 0
        pos += 1
        self._pos = 0 if pos == self.size else pos
        return risen


class TimeWindow:
    """Calls of the last ``size`` seconds, in one bucket per second (Resilience4j's TIME_BASED).

    Buckets are cleared as time moves past them rather than by a timer, so an idle breaker
    costs nothing; :meth:`advance` must run before the totals are read at a new time.
    """

    __slots__ = ("size", "calls", "failures", "slow", "_calls", "_failures", "_slow", "_head")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a time window needs at least one second")
        self.size = size
        self.reset()

    def reset(self) -> None:
        self._calls = [0] * self.size
        self._failures = [0] * self.size
        self._slow = [0] * self.size
        self._head: int | None = None  # the latest whole second seen
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def advance(self, now: float) -> None:
        """Drop the buckets of seconds that have left the window by ``now``."""
        second = math.floor(now)
        head = self._head
        if head is None:
            self._head = second
            return
        if second <= head:
            return
        # Only the seconds between the old head and now are stale; at most ``size`` of them.
        for stale in range(max(head + 1, second - self.size + 1), second + 1):
            self._clear(stale % self.size)
        self._head = second

    def record(self, now: float, failed: bool, slow: bool) -> bool:
        """Add one outcome; always True, since seconds leaving the window can raise a rate."""
        self.advance(now)
        second = math.floor(now)
        assert self._head is not None
        if second <= self._head - self.size:
            return True  # finished so late (a thread preempted for seconds) it left the window
        index = second % self.size
        self._calls[index] += 1
        self._failures[index] += failed
        self._slow[index] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow
        return True

    def _clear(self, index: int) -> None:
        self.calls -= self._calls[index]
        self.failures -= self._failures[index]
        self.slow -= self._slow[index]
        self._calls[index] = 0
        self._failures[index] = 0
        self._slow[index] = 0
