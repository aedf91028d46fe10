"""The breaker's state machine: admission, outcome bookkeeping, transitions, overrides.

Calls are never serialised. A call takes a *permit* (the state's generation number) before
it runs and hands it back with its outcome afterwards; the lock is held only for those two
short pieces of bookkeeping, never across the call. Closed with no override is the common
case, so admission there reads two attributes and takes no lock at all.

Generations make late outcomes harmless: every transition bumps ``_gen``, and an outcome
whose permit is from an older generation is dropped. A slow call that started while closed
can therefore never be mistaken for a half-open probe.

Half-open admits ``half_open_calls`` probes and judges them with the closed-state
thresholds as soon as the verdict is certain (see :mod:`.probes`). Leaving ``force_open``
enters half-open, so a recovered dependency gets probes before full traffic; entering
``force_closed`` resets to closed and keeps counting, so rates stay visible.

Overrides live here rather than in a module of their own because they share the one lock
and the generation counter with the counting; split, that invariant would span two files.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from workerkit.breakers.events import Listeners, State, StateChange, log_transition
from workerkit.breakers.override import Mode, Override, to_mode
from workerkit.breakers.probes import ProbeRound
from workerkit.breakers.window import CountWindow, TimeWindow
from workerkit.config import BreakerSettings

REJECTED = -1
Clock = Callable[[], float]
_CLOSED = State.CLOSED  # a module global reads faster than an enum member on the hot path


class BreakerMachine:
    """Closed, open and half-open per Resilience4j's rules, plus operator overrides."""

    def __init__(
        self, name: str, settings: BreakerSettings, *, clock: Clock, wall_clock: Clock
    ) -> None:
        self.name = name
        self.settings = settings
        self.permitted_probes = settings.half_open_calls
        self.listeners = Listeners()
        self.rejected = 0
        self.fallbacks = 0
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._window: CountWindow | TimeWindow
        if settings.window_type == "count":
            self._window = CountWindow(settings.window_size)
            self._minimum = min(settings.minimum_calls, settings.window_size)
        else:
            self._window = TimeWindow(settings.window_size)
            self._minimum = settings.minimum_calls
        self._failure_pct = settings.failure_rate_threshold
        self._slow_pct = settings.slow_call_rate_threshold
        self._slow_after = settings.slow_call_duration
        self._state = State.CLOSED
        self._gen = 0
        self._fast = True  # closed and not overridden: admit without the lock
        self._opened_at = 0.0
        self._probes = ProbeRound(self.permitted_probes, self._failure_pct, self._slow_pct)
        self._override: Override | None = None
        self._override_until = math.inf

    # -- public state and control ------------------------------------------------------

    @property
    def state(self) -> State:
        """The state now, after any transition that time alone has caused (and its event)."""
        events: list[StateChange] = []
        with self._lock:
            self._tick(events)
            state = self._effective()
        self._emit(events)
        return state

    @property
    def is_open(self) -> bool:
        """True while calls are refused outright: open, or forced open."""
        return self.state.rejects_calls

    @property
    def override(self) -> Override | None:
        """The operator override in force, if any."""
        return self._override

    def next_transition_in(self) -> float | None:
        """Seconds until time alone changes the state (half-open, or an override expiring).

        A paused consumer makes no calls, so nothing would notice that ``wait_in_open`` has
        passed; whoever pauses on this breaker reads :attr:`state` again after this long.
        """
        with self._lock:
            waits = []
            if self._override is not None and self._override_until != math.inf:
                waits.append(self._override_until - self._wall_clock())
            elif self._override is None and self._state is State.OPEN:
                waits.append(self._opened_at + self.settings.wait_in_open - self._clock())
        return max(0.0, min(waits)) if waits else None

    def apply_override(self, override: Override) -> None:
        """Apply an operator decision (from the ZooKeeper watch or the CLI); mode AUTO clears."""
        if override.until is not None and override.until.timestamp() <= self._wall_clock():
            # Stale news, e.g. a snapshot read after a restart: it ends the current override.
            override = Override(reason=f"{override.describe()} (already expired)")
        events: list[StateChange] = []
        with self._lock:
            self._apply_locked(override, events)
        self._emit(events)

    def set_override(
        self,
        mode: Mode | str,
        until: datetime | None = None,
        reason: str | None = None,
        by: str | None = None,
    ) -> None:
        """Force the breaker open or closed (or back to ``auto``), optionally until ``until``."""
        self.apply_override(Override(to_mode(mode), until, reason, by))

    # -- admission and outcomes (the hot path) -------------------------------------------

    def _admit(self) -> int:
        """A permit (>= 0) to run one call, or ``REJECTED``."""
        gen = self._gen  # read before _fast: a stale generation only drops an outcome
        if self._fast:
            return gen
        events: list[StateChange] = []
        with self._lock:
            self._tick(events)
            permit = self._admit_locked()
        self._emit(events)
        return permit

    def _admit_locked(self) -> int:
        if self._override is not None:
            if self._override.mode is Mode.FORCE_OPEN:
                self.rejected += 1
                return REJECTED
            return self._gen
        if self._state is State.CLOSED:
            return self._gen
        if self._state is State.HALF_OPEN and self._probes.take():
            return self._gen
        self.rejected += 1
        return REJECTED

    def _record(self, permit: int, start: float, failed: bool) -> None:
        """Count one finished call: did it fail, and did it take too long?"""
        end = self._clock()
        slow = end - start >= self._slow_after
        lock = self._lock
        lock.acquire()  # not ``with``: acquire/release costs half as much on the hot path
        try:
            if permit != self._gen:
                return
            if self._state is not _CLOSED:
                events = self._judge_probe(failed, slow)
            else:
                window = self._window
                if not window.record(end, failed, slow) or self._override is not None:
                    return
                calls, failures, late = window.calls, window.failures, window.slow
                if calls < self._minimum or (
                    failures * 100 < self._failure_pct * calls
                    and late * 100 < self._slow_pct * calls
                ):
                    return
                events = self._trip(calls, failures, late)
        finally:
            lock.release()
        self._emit(events)

    def _release(self, permit: int) -> None:
        """Return a permit unused: the call ended in an ignored exception or was cancelled."""
        if self._fast:
            return
        with self._lock:
            if permit == self._gen and self._state is State.HALF_OPEN:
                self._probes.give_back()

    def _trip(self, calls: int, failures: int, slow: int) -> list[StateChange]:
        if failures * 100 >= self._failure_pct * calls:
            why = f"failure rate {100 * failures / calls:.1f}% >= {self._failure_pct}%"
        else:
            why = f"slow-call rate {100 * slow / calls:.1f}% >= {self._slow_pct}%"
        events: list[StateChange] = []
        self._to(State.OPEN, f"{why} over {calls} calls", events)
        return events

    def _judge_probe(self, failed: bool, slow: bool) -> list[StateChange]:
        verdict = self._probes.record(failed, slow)
        events: list[StateChange] = []
        if verdict is not None:
            target = State.OPEN if verdict == "open" else State.CLOSED
            self._to(target, self._probes.describe(), events)
        return events

    # -- transitions ---------------------------------------------------------------------

    def _tick(self, events: list[StateChange]) -> None:
        """Make the transitions that time alone causes: override expiry, open -> half-open."""
        if self._override is not None and self._wall_clock() >= self._override_until:
            self._apply_locked(Override(reason="override expired"), events)
        if (
            self._override is None
            and self._state is State.OPEN
            and self._clock() - self._opened_at >= self.settings.wait_in_open
        ):
            self._to(State.HALF_OPEN, f"waited {self.settings.wait_in_open}s in open", events)

    def _to(self, state: State, reason: str, events: list[StateChange]) -> None:
        before = self._effective()
        rates = self._rates()
        self._enter(state)
        after = self._effective()
        if after is not before:
            events.append(self._event(before, after, reason, rates))

    def _enter(self, state: State) -> None:
        self._state = state
        self._gen += 1
        if state is State.CLOSED:
            self._window.reset()
        elif state is State.OPEN:
            self._opened_at = self._clock()
        else:
            self._probes.reset()
        self._fast = self._override is None and state is State.CLOSED

    def _apply_locked(self, override: Override, events: list[StateChange]) -> None:
        if override == self._override or (override.mode is Mode.AUTO and self._override is None):
            return  # a watch firing again with the same data must not drop in-flight outcomes
        before = self._effective()
        rates = self._rates()
        previous = self._override
        self._override = None if override.mode is Mode.AUTO else override
        self._override_until = override.until.timestamp() if override.until else math.inf
        if override.mode is Mode.FORCE_CLOSED and self._state is not State.CLOSED:
            self._enter(State.CLOSED)
        elif override.mode is Mode.AUTO and previous and previous.mode is Mode.FORCE_OPEN:
            self._enter(State.HALF_OPEN)
        else:
            self._gen += 1
            self._fast = self._override is None and self._state is State.CLOSED
        after = self._effective()
        if after is not before:
            events.append(self._event(before, after, override.describe(), rates))

    # -- reading -------------------------------------------------------------------------

    def _effective(self) -> State:
        if self._override is None:
            return self._state
        if self._override.mode is Mode.FORCE_OPEN:
            return State.FORCED_OPEN
        return State.FORCED_CLOSED

    def _rates(self) -> tuple[float | None, float | None]:
        if self._state is State.HALF_OPEN:
            calls, bad, late = self._probes.done, self._probes.failures, self._probes.slow
        else:
            self._window.advance(self._clock())
            calls, bad, late = self._window.calls, self._window.failures, self._window.slow
        if not calls:
            return None, None
        return 100 * bad / calls, 100 * late / calls

    def _event(
        self, before: State, after: State, reason: str, rates: tuple[float | None, float | None]
    ) -> StateChange:
        at = datetime.fromtimestamp(self._wall_clock(), UTC)
        return StateChange(self.name, before, after, reason, rates[0], rates[1], at)

    def _emit(self, events: list[StateChange]) -> None:
        for event in events:
            log_transition(event)
            self.listeners.emit(event)
