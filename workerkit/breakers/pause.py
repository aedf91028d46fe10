"""PauseGate: how many messages a consumer bound to breakers may have in flight.

A consumer declared with ``pause_when_open=["tms-api"]`` would otherwise keep taking
messages while its dependency is down and run each one out of retries into the dead-letter
table. With a gate it follows one number, :meth:`PauseGate.limit`:

``0``
    Some listed breaker is open or forced open. Stop consuming; messages wait in the queue.
``k`` (k > 0)
    None is open, and some are half-open. Consume with at most ``k`` messages in flight,
    ``k`` being the smallest ``half_open_calls`` among the half-open breakers. These
    messages are the probes: each handler call through the breaker takes one probe permit.
    Enough successes close the breaker and the limit lifts; a failure verdict reopens it and
    the limit drops back to 0. Capping in-flight messages at the probe count means no
    message is taken only to be refused for want of a permit. A handler that calls the
    same breaker twice per message needs twice the permits; keep it at one call.
``None``
    Every listed breaker is closed or forced closed: consume at the normal concurrency.

Open becomes half-open by time alone, and a paused consumer calls nothing, so nothing
would notice. The consumer therefore calls :meth:`PauseGate.check` after
:meth:`PauseGate.next_check_in` seconds (``loop.call_later``); the transition then happens
and ``on_change`` fires. ``on_change(limit)`` runs on the thread that caused the change,
so an asyncio consumer hops over with ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from workerkit.breakers.events import State, StateChange
from workerkit.breakers.registry import BreakerRegistry


class PauseGate:
    """Turns the states of some breakers into one in-flight limit for one consumer."""

    def __init__(
        self,
        registry: BreakerRegistry,
        names: Sequence[str],
        on_change: Callable[[int | None], None] | None = None,
    ) -> None:
        if not names:
            raise ValueError("a PauseGate needs at least one breaker name")
        self._registry = registry
        self._names = frozenset(names)
        self._breakers = [registry.get(name) for name in sorted(self._names)]
        self._on_change = on_change
        self._lock = threading.Lock()
        self._last: int | None = self.limit()
        registry.add_listener(self._changed)

    def limit(self) -> int | None:
        """0 to pause, k to allow k messages in flight, None for no limit (see module doc)."""
        states = [(breaker, breaker.state) for breaker in self._breakers]
        if any(state.rejects_calls for _, state in states):
            return 0
        probes = [b.permitted_probes for b, state in states if state is State.HALF_OPEN]
        return min(probes) if probes else None

    def next_check_in(self) -> float | None:
        """Seconds until one of the breakers changes state by time alone, if one will."""
        waits = [w for b in self._breakers if (w := b.next_transition_in()) is not None]
        return min(waits) if waits else None

    def check(self) -> int | None:
        """Re-read the breakers, making any transition that is due; returns the limit."""
        limit = self.limit()
        self._publish(limit)
        return limit

    def close(self) -> None:
        """Stop listening; call when the consumer stops."""
        self._registry.remove_listener(self._changed)

    def _changed(self, event: StateChange) -> None:
        if event.name in self._names:
            self._publish(self.limit())

    def _publish(self, limit: int | None) -> None:
        with self._lock:
            if limit == self._last:
                return
            self._last = limit
        if self._on_change is not None:
            self._on_change(limit)
