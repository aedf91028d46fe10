"""What happens after a handler fails: retry after which delay, or give up.

The delay ladder is turned into one retry queue per distinct delay, because a per-message TTL
in a shared queue only expires at the head and a short delay would wait behind a long one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tenacity import RetryCallState, wait_exponential

from workerkit.errors import InvalidMessage, NonRetriable, Retry

#: far above any useful ladder, far below the x-retry-count a message may carry (10,000)
MAX_ATTEMPTS = 1000

#: The default ``retry_on``: every exception is worth another attempt unless it is listed in
#: ``dead_on``, is a :class:`NonRetriable`, or the message itself is invalid.
DEFAULT_RETRY_ON: tuple[type[BaseException], ...] = (Exception,)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["retry", "dead"]
    reason: Literal["retry", "exhausted", "non_retriable", "invalid"]
    delay: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    retry_on: tuple[type[BaseException], ...] = DEFAULT_RETRY_ON
    dead_on: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= MAX_ATTEMPTS:
            raise ValueError(f"max_attempts must be between 1 and {MAX_ATTEMPTS}")
        if not self.delays or any(d <= 0 for d in self.delays):
            raise ValueError("delays must be a non-empty sequence of positive seconds")

    @classmethod
    def exponential(
        cls,
        *,
        max_attempts: int = 5,
        initial: float = 1.0,
        multiplier: float = 2.0,
        maximum: float = 300.0,
        retry_on: Sequence[type[BaseException]] = DEFAULT_RETRY_ON,
        dead_on: Sequence[type[BaseException]] = (),
    ) -> RetryPolicy:
        """A ladder computed by tenacity's exponential wait, capped at ``maximum`` seconds."""
        wait = wait_exponential(multiplier=initial, exp_base=multiplier, max=maximum)
        ladder = []
        for attempt in range(1, max(max_attempts, 2)):
            state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
            state.attempt_number = attempt
            ladder.append(round(float(wait(state)), 3))
        return cls(max_attempts, tuple(ladder), tuple(retry_on), tuple(dead_on))

    def delay_for(self, attempt: int) -> float:
        """Delay after failed attempt ``attempt`` (1-based); the ladder's last rung repeats."""
        return self.delays[min(attempt, len(self.delays)) - 1]

    def distinct_delays(self) -> tuple[float, ...]:
        used = {self.delay_for(a) for a in range(1, self.max_attempts)}
        return tuple(sorted(used))

    def decide(self, exc: BaseException, attempt: int) -> Decision:
        if isinstance(exc, InvalidMessage):
            return Decision("dead", "invalid")
        if isinstance(exc, NonRetriable) or (self.dead_on and isinstance(exc, self.dead_on)):
            return Decision("dead", "non_retriable")
        if not isinstance(exc, Retry) and not isinstance(exc, self.retry_on):
            return Decision("dead", "non_retriable")
        if attempt >= self.max_attempts:
            return Decision("dead", "exhausted")
        delay = exc.delay if isinstance(exc, Retry) and exc.delay else self.delay_for(attempt)
        return Decision("retry", "retry", delay)
