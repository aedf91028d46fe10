"""When to change a consumer's concurrency: a pure function of measured signals.

Kept apart from the controller that samples and applies, so the rules can be tested with a
list of made-up samples and no event loop, broker or waiting.

The rules, and why they do not flap:

- Up: every slot has been busy while messages waited (prefetched here or ready in the
  broker queue) for ``up_after`` seconds. One step goes straight to the number of slots that
  would drain the backlog within ``horizon`` at the measured handler latency, at least one
  more, at most the maximum. A large backlog reaches the maximum in one step; a trickle adds
  one slot at a time.
- Down: for a whole ``down_after`` window since the last change, the peak of busy slots
  (plus messages ready to start) stayed below the current concurrency. The new value keeps
  ``headroom`` above that peak, never below the minimum. Because it stays above the peak
  seen, a steady load does not saturate the new value and cannot trigger the next raise.
- Hysteresis comes from the asymmetry: raising needs a short, unbroken saturation, lowering
  needs a full window of idle slots counted from the last change in either direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: tolerance for comparing clock readings taken by a sleeping loop
EPSILON = 1e-3


@dataclass(frozen=True)
class Sample:
    """What the controller measured at one moment."""

    at: float
    busy: int
    ready: int
    depth: int
    latency: float

    @property
    def backlog(self) -> int:
        return self.ready + self.depth


@dataclass(frozen=True)
class Decision:
    new: int
    why: str


@dataclass(frozen=True)
class ScalingPolicy:
    minimum: int
    maximum: int
    up_after: float = 0.2
    down_after: float = 1.0
    horizon: float = 1.0
    headroom: float = 0.25

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {self.minimum}..{self.maximum}")

    def decide(self, current: int, samples: Sequence[Sample], since: float) -> Decision | None:
        """``samples`` are those taken since the last change at ``since``, oldest first."""
        if not samples:
            return None
        if current < self.minimum or current > self.maximum:
            new = min(self.maximum, max(self.minimum, current))
            return Decision(new, f"outside {self.minimum}..{self.maximum}")
        return self._up(current, samples) or self._down(current, samples, since)

    def _up(self, current: int, samples: Sequence[Sample]) -> Decision | None:
        if current >= self.maximum:
            return None
        start = len(samples)
        while start > 0 and _saturated(samples[start - 1], current):
            start -= 1
        if start == len(samples):
            return None
        last = samples[-1]
        if last.at - samples[start].at < self.up_after - EPSILON:
            return None
        if last.latency > 0:
            need = last.busy + math.ceil(last.backlog * last.latency / self.horizon)
        else:
            need = last.busy + last.backlog
        new = min(self.maximum, max(current + 1, need))
        return Decision(
            new,
            f"all {current} slots busy, {last.backlog} waiting, "
            f"{last.latency * 1000:.0f} ms per message",
        )

    def _down(self, current: int, samples: Sequence[Sample], since: float) -> Decision | None:
        now = samples[-1].at
        if current <= self.minimum or now - since < self.down_after - EPSILON:
            return None
        window = [s for s in samples if s.at >= now - self.down_after - EPSILON]
        peak = max(s.busy + s.ready for s in window)
        new = max(self.minimum, math.ceil(peak * (1 + self.headroom)))
        if new >= current:
            return None
        return Decision(new, f"at most {peak} of {current} slots busy for {self.down_after:g}s")


def _saturated(sample: Sample, current: int) -> bool:
    return sample.busy >= current and sample.backlog > 0
