"""What a breaker tells the outside: states, state-change events and their log line, status.

Alerts, metrics and paused consumers all learn about breakers through
:class:`StateChange` events rather than by polling, so a transition is reported once, with
the numbers that caused it. A listener is someone else's code running inside a call through
the breaker: if it raises, the error is logged at CRITICAL and the call goes on unharmed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from workerkit.breakers.override import Mode

log = logging.getLogger("workerkit.breakers")


class State(StrEnum):
    """The state a caller sees: the breaker's own state, or the one an operator forced."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"
    FORCED_CLOSED = "forced_closed"

    @property
    def rejects_calls(self) -> bool:
        """True for the states in which a consumer bound to the breaker should pause."""
        return self in (State.OPEN, State.FORCED_OPEN)


@dataclass(frozen=True, slots=True)
class StateChange:
    """One transition. Rates are percentages of the calls that decided it (None if none)."""

    name: str
    from_state: State
    to_state: State
    reason: str
    failure_rate: float | None
    slow_rate: float | None
    at: datetime


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """A breaker at one moment, for ``workerkit breakers list`` and the live-workers node."""

    name: str
    state: State
    mode: Mode
    until: datetime | None
    reason: str | None
    by: str | None
    failure_rate: float | None
    slow_rate: float | None
    calls: int
    rejected: int
    fallbacks: int

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data, e.g. for the worker's ephemeral node in ZooKeeper."""
        data = {field: getattr(self, field) for field in self.__dataclass_fields__}
        data["until"] = self.until.isoformat() if self.until else None
        data["state"], data["mode"] = self.state.value, self.mode.value
        return data


Listener = Callable[[StateChange], None]


class Listeners:
    """A set of callbacks that receive every :class:`StateChange`, each shielded from the rest.

    Callbacks run on the thread that caused the change (the event loop, or a worker thread
    for sync callables); asyncio code should hop over with ``loop.call_soon_threadsafe``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: tuple[Listener, ...] = ()

    def add(self, callback: Listener) -> None:
        with self._lock:
            self._callbacks = (*self._callbacks, callback)

    def remove(self, callback: Listener) -> None:
        with self._lock:
            # ``!=``, not ``is not``: each ``obj.method`` access makes a new bound method.
            self._callbacks = tuple(c for c in self._callbacks if c != callback)

    def emit(self, event: StateChange) -> None:
        for callback in self._callbacks:  # a tuple snapshot: adding during emit is safe
            try:
                callback(event)
            except Exception:
                log.critical(
                    "breaker listener %r failed on %s %s -> %s; the call is unaffected",
                    callback,
                    event.name,
                    event.from_state,
                    event.to_state,
                    exc_info=True,
                )


def log_transition(event: StateChange) -> None:
    """One line per transition, at WARNING when calls start being refused."""
    log.log(
        logging.WARNING if event.to_state.rejects_calls else logging.INFO,
        "breaker %s: %s -> %s (%s)",
        event.name,
        event.from_state.value,
        event.to_state.value,
        event.reason,
        extra={"breaker": event.name, "breaker_state": event.to_state.value},
    )
