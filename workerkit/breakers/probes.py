"""One round of half-open probes: a fixed number of trial calls and their verdict.

Resilience4j judges half-open with the closed-state thresholds once every permitted call
has returned. Waiting for the last one is needless when the answer is already certain,
and costly when traffic is thin (a paused consumer lets only a few messages through), so
the round decides as soon as no outcome of the probes still out could change it: with
one probe, its success closes and its failure reopens; with three at 50 %, two successes
close and two failures reopen.
"""

from __future__ import annotations

from typing import Literal

Verdict = Literal["open", "closed"] | None


class ProbeRound:
    """Permits and outcomes of the probes since the breaker last went half-open."""

    __slots__ = ("permitted", "out", "done", "failures", "slow", "_failure_pct", "_slow_pct")

    def __init__(self, permitted: int, failure_pct: float, slow_pct: float) -> None:
        self.permitted = permitted
        self._failure_pct = failure_pct
        self._slow_pct = slow_pct
        self.reset()

    def reset(self) -> None:
        self.out = self.done = self.failures = self.slow = 0

    def take(self) -> bool:
        """Hand out a permit if one is left; callers beyond the permitted number are refused."""
        if self.out >= self.permitted:
            return False
        self.out += 1
        return True

    def give_back(self) -> None:
        """A probe ended without an outcome (ignored error, cancellation): free its permit."""
        self.out -= 1

    def record(self, failed: bool, slow: bool) -> Verdict:
        """Count one probe's outcome; return the verdict once it is certain."""
        self.done += 1
        self.failures += failed
        self.slow += slow
        n = self.permitted
        left = n - self.done
        if self.failures * 100 >= self._failure_pct * n or self.slow * 100 >= self._slow_pct * n:
            return "open"
        # Even if every probe still out failed and was slow, would the rates stay under?
        if (self.failures + left) * 100 < self._failure_pct * n and (
            self.slow + left
        ) * 100 < self._slow_pct * n:
            return "closed"
        return None

    def describe(self) -> str:
        passed, n = self.done - self.failures, self.permitted
        return f"probes: {passed} of {n} succeeded, {self.failures} failed, {self.slow} slow"
