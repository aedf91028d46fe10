"""When to change a consumer's concurrency: a pure function of measured signals.

Kept apart from the controller that samples and applies, so the rules can be tested with a
list of made-up samples and no event loop, broker or waiting.

The rules, and why they do not flap:

- Up: the slots have been full while messages waited (prefetched here or ready in the
  broker queue) for ``up_after`` seconds. Full means busy at this instant, or busy at least
  ``full_at`` of the time since the previous sample: with prefetch equal to the slots, a slot
  waits one broker round trip for its next message after each ack, so a saturated consumer
  rarely shows every slot busy at one instant. One step goes straight to the number of slots that
  would drain the backlog within ``horizon`` at the measured handler latency, at least one
  more, at most the maximum. A large backlog reaches the maximum in one step; a trickle adds
  one slot at a time.
- Down: for a whole ``down_after`` window since the last change, nothing waited and the peak
  of busy slots (the high-water mark between samples, not a snapshot) stayed below the
  current concurrency. The new value keeps ``headroom`` above
  that peak, never below the minimum. Because it stays above the peak seen, a steady load
  does not saturate the new value and cannot trigger the next raise. Idle slots while the
  queue holds messages do not count: with prefetch equal to the slots, a slot waits for the
  broker's next delivery after each ack, and that gap is not a lack of work.
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
    """What the controller measured at ``at``; ``used`` is the mean and ``peak`` the most of
    busy slots over the ``span`` seconds before it."""

    at: float
    busy: int
    ready: int
    depth: int
    latency: float
    used: float = 0.0
    span: float = 0.0
    peak: int = 0

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
    full_at: float = 0.75

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
        while start > 0 and self.saturated(samples[start - 1], current):
            start -= 1
        if start == len(samples):
            return None
        last, first = samples[-1], samples[start]
        if last.at - (first.at - first.span) < self.up_after - EPSILON:
            return None
        if last.latency > 0:
            need = current + math.ceil(last.backlog * last.latency / self.horizon)
        else:
            need = current + last.backlog
        new = min(self.maximum, max(current + 1, need))
        return Decision(
            new,
            f"{last.used:.1f} of {current} slots busy, {last.backlog} waiting, "
            f"{last.latency * 1000:.0f} ms per message",
        )

    def _down(self, current: int, samples: Sequence[Sample], since: float) -> Decision | None:
        now = samples[-1].at
        if current <= self.minimum or now - since < self.down_after - EPSILON:
            return None
        window = [s for s in samples if s.at >= now - self.down_after - EPSILON]
        if any(s.backlog for s in window):
            return None
        peak = max(max(s.busy, s.peak) for s in window)
        new = max(self.minimum, math.ceil(peak * (1 + self.headroom)))
        if new >= current:
            return None
        return Decision(new, f"at most {peak} of {current} slots busy for {self.down_after:g}s")

    def saturated(self, sample: Sample, current: int) -> bool:
        full = sample.busy >= current or sample.used >= current * self.full_at
        return full and sample.backlog > 0
