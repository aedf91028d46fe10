"""Aggregation and throttling of alerts, apart from how they are delivered.

A failure storm must become a few readable lines, not a post per message: events with the
same key (e.g. queue and error type) are counted in one group, and a group is summarised at
most once per ``min_interval``. The first event of a quiet group is due at once, so a new
problem is seen quickly; what follows waits for the interval and arrives as one count.
The clock is injected so the throttle is tested without waiting.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(slots=True)
class Group:
    """The events of one key since its last summary."""

    subject: str
    noun: str
    detail: str
    hint: str | None
    count: int = 0
    first_example: str = ""
    window_start: float = 0.0
    last_summary: float | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    key: Hashable
    count: int
    text: str
    first_example: str
    window_start: float


class Aggregator:
    """Counts events per key and hands out summaries the throttle allows; thread-safe."""

    def __init__(self, min_interval: float, clock: Callable[[], float]) -> None:
        self.min_interval = min_interval
        self.clock = clock
        self._groups: dict[Hashable, Group] = {}
        self._lock = threading.Lock()

    def add(
        self,
        key: Hashable,
        *,
        subject: str,
        noun: str,
        example: str,
        detail: str = "",
        hint: str | None = None,
    ) -> None:
        """Count one event. ``noun`` is singular ("dead letter"); ``detail`` follows the
        count ("of ValueError"); ``hint`` is the command an operator runs next."""
        with self._lock:
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = Group(subject, noun, detail, hint)
            if group.count == 0:
                group.first_example = example
                group.window_start = (
                    self.clock() if group.last_summary is None else group.last_summary
                )
            group.count += 1

    def due(self, *, everything: bool = False) -> list[Summary]:
        """Summaries of the groups whose interval has passed (all of them with
        ``everything``, e.g. at shutdown); their counts start again from zero."""
        now = self.clock()
        out: list[Summary] = []
        with self._lock:
            for key, g in self._groups.items():
                if g.count == 0:
                    continue
                waited = None if g.last_summary is None else now - g.last_summary
                if not everything and waited is not None and waited < self.min_interval:
                    continue
                out.append(Summary(key, g.count, _text(g, now), g.first_example, g.window_start))
                g.count = 0
                g.last_summary = now
        return out

    def restore(self, summaries: list[Summary]) -> None:
        """Put back the counts of summaries that could not be delivered, so the next
        summary of the group includes them; the throttle still applies to the retry."""
        with self._lock:
            for s in summaries:
                group = self._groups.get(s.key)
                if group is None:
                    continue
                if group.count == 0:
                    group.first_example = s.first_example
                group.window_start = (
                    min(group.window_start, s.window_start) if group.count else s.window_start
                )
                group.count += s.count

    def pending(self) -> int:
        with self._lock:
            return sum(g.count for g in self._groups.values())


def _text(g: Group, now: float) -> str:
    seconds = max(1, math.ceil(now - g.window_start))
    noun = g.noun if g.count == 1 else f"{g.noun}s"
    detail = f" {g.detail}" if g.detail else ""
    hint = f"; see `{g.hint}`" if g.hint else ""
    return (
        f"{g.subject}: {g.count} {noun}{detail} in the last {seconds} s; "
        f"first: {g.first_example}{hint}"
    )
