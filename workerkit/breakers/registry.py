"""BreakerRegistry: the process's breakers, one per dependency name, and their listeners.

The app builds one registry from ``Settings.breakers`` and passes it down; there is no
module-level registry, so tests and embedded apps never share breakers by accident.
Counting is local to the process; only operator overrides come from outside, through
:meth:`BreakerRegistry.apply_override`, which the ZooKeeper watch calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from workerkit.breakers.breaker import CircuitBreaker, ErrorTypes
from workerkit.breakers.events import BreakerStatus, Listener, Listeners
from workerkit.breakers.fallback import Fallback
from workerkit.breakers.machine import Clock
from workerkit.breakers.override import Override
from workerkit.config import BreakerSettings
from workerkit.errors import ConfigError


class BreakerRegistry:
    """Creates each breaker once from the defaults plus ``overrides[name]``, and watches them all.

    Every override table is validated here, so ``workerkit run`` refuses to start on a bad
    one instead of failing at the first call to that dependency.
    """

    def __init__(
        self,
        settings: BreakerSettings | None = None,
        *,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        self.settings = settings or BreakerSettings()
        self._per_name = {name: self.settings.for_name(name) for name in self.settings.overrides}
        self._clock = clock
        self._wall_clock = wall_clock
        # Re-entrant: a pending override applied at creation emits events, and a listener
        # may well call get() from inside that emit.
        self._lock = threading.RLock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._pending: dict[str, Override] = {}
        self._registered: set[str] = set()
        self.listeners = Listeners()

    def register(
        self,
        name: str,
        *,
        fallback: Fallback | None = None,
        record: ErrorTypes = (Exception,),
        ignore: ErrorTypes = (),
        ignore_if: Callable[[BaseException], bool] | None = None,
    ) -> CircuitBreaker:
        """Give breaker ``name`` its code-level options: fallback and which errors count.

        A consumer's ``pause_when_open`` may have created the breaker through :meth:`get`
        first; registering then configures that same breaker. Registering a name twice is
        an error: two modules would otherwise disagree silently about the same dependency.
        """
        with self._lock:
            if name in self._registered:
                raise ConfigError(f"breaker {name!r} is already registered")
            self._registered.add(name)
            breaker = self._breakers.get(name) or self._create(name)
            breaker.fallback = fallback
            breaker.record, breaker.ignore, breaker.ignore_if = record, ignore, ignore_if
            return breaker

    def get(self, name: str) -> CircuitBreaker:
        """Breaker ``name``, created from the settings on first use."""
        breaker = self._breakers.get(name)
        if breaker is not None:
            return breaker
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                breaker = self._create(name)
            return breaker

    def names(self) -> list[str]:
        return sorted(self._breakers)

    def is_open(self, name: str) -> bool:
        """True while breaker ``name`` refuses calls outright (open or forced open)."""
        return self.get(name).is_open

    def snapshot(self) -> list[BreakerStatus]:
        """Every breaker's status, sorted by name, for ``breakers list`` and live workers."""
        return [self._breakers[name].status() for name in self.names()]

    def add_listener(self, callback: Listener) -> None:
        """Receive a StateChange from every breaker, including ones created later."""
        self.listeners.add(callback)

    def remove_listener(self, callback: Listener) -> None:
        self.listeners.remove(callback)

    def apply_override(self, name: str, override: Override) -> None:
        """Apply an operator override to ``name``, even before the breaker is first used.

        A watch may deliver an override for a breaker this process has not created yet;
        it is kept and applied at creation, so a late ``register`` still starts forced.
        """
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is None:
                self._pending[name] = override
                return
        breaker.apply_override(override)

    def refresh(self) -> None:
        """Make every time-driven transition now (open -> half-open, overrides expiring).

        Breakers notice time passing when they are called; a process whose consumers are
        paused calls nothing, so it runs this (or reads ``state``) on a timer instead.
        """
        for name in self.names():
            _ = self._breakers[name].state

    def _create(self, name: str) -> CircuitBreaker:
        settings = self._per_name.get(name) or self.settings.for_name(name)
        breaker = CircuitBreaker(name, settings, clock=self._clock, wall_clock=self._wall_clock)
        breaker.add_listener(self.listeners.emit)
        self._breakers[name] = breaker  # before the override: its listeners may call get()
        pending = self._pending.pop(name, None)
        if pending is not None:
            breaker.apply_override(pending)
        return breaker
