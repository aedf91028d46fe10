"""Circuit breakers: fail fast with a predefined answer while a dependency is failing.

Maths after Resilience4j (sliding windows, failure-rate and slow-call thresholds, bounded
half-open probes), counted locally per process; operators can force a breaker open or
closed for every worker through an override document (see :mod:`.override`).

    registry = BreakerRegistry(settings.breakers)
    tms = registry.register("tms-api", ignore=(NotFound,))

    @tms.protect(fallback=Fallback.returning([]))
    async def rates(order_id: str) -> list[Rate]: ...
"""

from workerkit.breakers.breaker import CircuitBreaker
from workerkit.breakers.events import BreakerStatus, Listener, State, StateChange
from workerkit.breakers.fallback import (
    Fallback,
    FallbackInfo,
    last_call_was_fallback,
    last_fallback,
)
from workerkit.breakers.override import Mode, Override, parse_override
from workerkit.breakers.pause import PauseGate
from workerkit.breakers.registry import BreakerRegistry

__all__ = [
    "BreakerRegistry",
    "BreakerStatus",
    "CircuitBreaker",
    "Fallback",
    "FallbackInfo",
    "Listener",
    "Mode",
    "Override",
    "PauseGate",
    "State",
    "StateChange",
    "last_call_was_fallback",
    "last_fallback",
    "parse_override",
]
