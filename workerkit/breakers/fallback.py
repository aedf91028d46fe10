"""Fallbacks: the predefined answer a call gives when the dependency cannot.

A fallback must never pass for a real answer, so every fallback leaves three traces:

* the context flag: :func:`last_call_was_fallback` / :func:`last_fallback`, reset at the
  start of each call through any breaker in this context and set when that call (or a
  breaker call nested inside it) fell back. ``contextvars`` make it per asyncio task and
  per thread. A call run as its own task (``asyncio.gather``, ``create_task``) sets the
  flag in that task's context, not the caller's: check inside the task.
* a log line on ``workerkit.breakers`` with ``extra`` fields ``breaker``, ``fallback=True``
  and ``fallback_reason`` (``"open"`` or ``"failure"``): WARNING after a failure, DEBUG while
  open (the transition to open was already logged, and an open breaker may refuse
  thousands of calls a second);
* the breaker's ``fallbacks`` counter, shown in its status.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

FallbackReason = Literal["open", "failure"]

_NO_VALUE: Any = object()


@dataclass(frozen=True, slots=True)
class FallbackInfo:
    """Why the latest breaker call in this context answered with its fallback."""

    breaker: str
    reason: FallbackReason
    error: BaseException  # BreakerOpen when refused, else the exception the call raised


_last: ContextVar[FallbackInfo | None] = ContextVar("workerkit_breaker_fallback", default=None)


def last_fallback() -> FallbackInfo | None:
    """The fallback the latest breaker call in this context fell back to, or None."""
    return _last.get()


def last_call_was_fallback() -> bool:
    """True when the latest breaker call in this context returned a fallback, not a result."""
    return _last.get() is not None


@dataclass(frozen=True, slots=True)
class Fallback:
    """What to answer instead, and when: while ``"open"``, after a ``"failure"``, or ``"both"``.

    Build one with :meth:`returning` (a fixed value) or :meth:`computed` (a function given
    the exception and the call's own arguments); the two constructors keep a callable
    *value* from being mistaken for a function to call. A fallback function that raises
    raises to the caller, chained to the original error: there is no fallback of a fallback.
    """

    value: Any = _NO_VALUE
    func: Callable[..., Any] | None = None
    on: Literal["open", "failure", "both"] = "both"

    def __post_init__(self) -> None:
        if (self.value is _NO_VALUE) == (self.func is None):
            raise ValueError("a Fallback needs exactly one of a value or a function")
        if self.on not in ("open", "failure", "both"):
            raise ValueError(
                f"Fallback(on=...) must be 'open', 'failure' or 'both', not {self.on!r}"
            )

    @classmethod
    def returning(cls, value: Any, *, on: Literal["open", "failure", "both"] = "both") -> Fallback:
        """Answer ``value``, the same object every time; for a fresh list, use computed()."""
        return cls(value=value, on=on)

    @classmethod
    def computed(
        cls, func: Callable[..., Any], *, on: Literal["open", "failure", "both"] = "both"
    ) -> Fallback:
        """``func(error, *args, **kwargs)``; may be ``async def`` for async calls only."""
        return cls(func=func, on=on)

    @property
    def on_open(self) -> bool:
        return self.on != "failure"

    @property
    def on_failure(self) -> bool:
        return self.on != "open"

    @property
    def is_async(self) -> bool:
        return self.func is not None and inspect.iscoroutinefunction(self.func)

    def answer(self, error: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The fallback result (an awaitable when :attr:`is_async`)."""
        if self.func is None:
            return self.value
        return self.func(error, *args, **kwargs)


def mark(info: FallbackInfo) -> None:
    """Record in this context that the current call fell back."""
    _last.set(info)


def clear() -> None:
    """Start a call with a clean flag."""
    _last.set(None)


# The raw getter, so the hot path can skip clear() (a function call and a write) when the
# flag is already clean, which is almost always.
peek: Callable[[], FallbackInfo | None] = _last.get
