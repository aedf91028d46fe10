"""CircuitBreaker: the ways to call through a breaker, and what happens to an exception.

Four forms share one set of counts: ``@breaker`` / ``@breaker.protect(fallback=...)`` on a
sync or async function, ``breaker.call(fn, ...)`` / ``await breaker.acall(fn, ...)``, and
``with breaker:`` / ``async with breaker:``. The block forms cannot substitute a value, so
they raise :class:`BreakerOpen` when refused and never apply a fallback.

An exception is *ignored* (neither success nor failure, and a half-open probe permit is
handed back) when it is not an ``Exception`` (cancellation, KeyboardInterrupt) or matches
``ignore`` / ``ignore_if``; it is a *failure* when it matches ``record``; anything else
counts as a success, because the dependency answered (Resilience4j's rule). Only failures
and refusals reach a fallback: an ignored error is the caller's to see.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from workerkit.breakers import fallback as flag
from workerkit.breakers.events import BreakerStatus, Listener, State
from workerkit.breakers.fallback import Fallback, FallbackInfo, FallbackReason, peek
from workerkit.breakers.machine import BreakerMachine, Clock
from workerkit.breakers.override import Mode
from workerkit.config import BreakerSettings
from workerkit.errors import BreakerOpen

P = ParamSpec("P")
T = TypeVar("T")
log = logging.getLogger("workerkit.breakers")
ErrorTypes = tuple[type[BaseException], ...]


class CircuitBreaker(BreakerMachine):
    """A breaker for one dependency; see the module docstring for the call forms."""

    def __init__(
        self,
        name: str,
        settings: BreakerSettings | None = None,
        *,
        fallback: Fallback | None = None,
        record: ErrorTypes = (Exception,),
        ignore: ErrorTypes = (),
        ignore_if: Callable[[BaseException], bool] | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
    ) -> None:
        super().__init__(name, settings or BreakerSettings(), clock=clock, wall_clock=wall_clock)
        self.fallback = fallback
        # Public so the registry can configure a breaker that get() created before register().
        self.record = record
        self.ignore = ignore
        self.ignore_if = ignore_if
        self._blocks: ContextVar[tuple[tuple[int, float], ...]] = ContextVar(
            f"workerkit_breaker_{name}", default=()
        )

    def add_listener(self, callback: Listener) -> None:
        self.listeners.add(callback)

    def status(self) -> BreakerStatus:
        with self._lock:
            failure_rate, slow_rate = self._rates()
            calls = self._probes.done if self._state is State.HALF_OPEN else self._window.calls
            ov = self._override
        return BreakerStatus(
            self.name, self.state, ov.mode if ov else Mode.AUTO, ov.until if ov else None,
            ov.reason if ov else None, ov.by if ov else None, failure_rate, slow_rate, calls,
            self.rejected, self.fallbacks,
        )  # fmt: skip

    # -- decorator and call forms --------------------------------------------------------

    @overload
    def protect(
        self, fn: Callable[P, Coroutine[Any, Any, T]], *, fallback: Fallback | None = None
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def protect(
        self, fn: Callable[P, T], *, fallback: Fallback | None = None
    ) -> Callable[P, T]: ...
    @overload
    def protect(
        self, fn: None = None, *, fallback: Fallback | None = None
    ) -> Callable[[Callable[P, T]], Callable[P, T]]: ...
    def protect(self, fn: Any = None, *, fallback: Fallback | None = None) -> Any:
        """Decorate ``fn``; ``fallback`` replaces the breaker's own for this function."""
        chosen = fallback if fallback is not None else self.fallback
        if fn is None:
            return functools.partial(self.protect, fallback=chosen)
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            # The call would return at once and the breaker would count nothing real.
            raise TypeError(f"{fn.__qualname__} is a generator; protect the code consuming it")
        if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None)  # noqa: B004 - looks for ``async def __call__``
        ):

            @functools.wraps(fn)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                return await self._run_async(fn, chosen, args, kwargs)

            return guarded_async
        if chosen is not None and chosen.is_async:
            raise TypeError(f"{fn.__qualname__} is sync but its fallback is async def")

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self._run(fn, chosen, args, kwargs)

        return guarded

    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]:
        return self.protect(fn)

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` through the breaker now; for ``async def`` use :meth:`acall`."""
        if self.fallback is not None and self.fallback.is_async:
            raise TypeError(f"breaker {self.name!r} has an async fallback; use acall()")
        result = self._run(fn, self.fallback, args, kwargs)
        if inspect.iscoroutine(result):
            # Unawaited, the call has not happened yet: the breaker would guard nothing.
            result.close()
            raise TypeError(f"breaker {self.name!r}: call() got a coroutine; use acall()")
        return result  # type: ignore[no-any-return]

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run_async(fn, self.fallback, args, kwargs)  # type: ignore[no-any-return]

    def _run(self, fn: Callable[..., Any], fb: Fallback | None, args: Any, kwargs: Any) -> Any:
        if peek() is not None:
            flag.clear()
        permit = self._admit()
        if permit < 0:
            if fb is not None and fb.on_open:
                return self._fall_back(fb, "open", self._refusal(), args, kwargs)
            raise self._refusal()
        start = self._clock()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            if self._settle(permit, start, exc) and fb is not None and fb.on_failure:
                return self._fall_back(fb, "failure", exc, args, kwargs)
            raise
        self._record(permit, start, False)
        return result

    async def _run_async(
        self, fn: Callable[..., Awaitable[Any]], fb: Fallback | None, args: Any, kwargs: Any
    ) -> Any:
        if peek() is not None:
            flag.clear()
        permit = self._admit()
        if permit < 0:
            if fb is not None and fb.on_open:
                answer = self._fall_back(fb, "open", self._refusal(), args, kwargs)
                return await answer if fb.is_async else answer
            raise self._refusal()
        start = self._clock()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            if self._settle(permit, start, exc) and fb is not None and fb.on_failure:
                answer = self._fall_back(fb, "failure", exc, args, kwargs)
                return await answer if fb.is_async else answer
            raise
        self._record(permit, start, False)
        return result

    # -- block forms ---------------------------------------------------------------------

    def __enter__(self) -> CircuitBreaker:
        permit = self._admit()
        if permit < 0:
            raise self._refusal()
        self._blocks.set((*self._blocks.get(), (permit, self._clock())))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack = self._blocks.get()
        permit, start = stack[-1]
        self._blocks.set(stack[:-1])
        if exc is None:
            self._record(permit, start, False)
        else:
            self._settle(permit, start, exc)

    async def __aenter__(self) -> CircuitBreaker:
        return self.__enter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(kind, exc, tb)

    # -- outcomes ------------------------------------------------------------------------

    def _settle(self, permit: int, start: float, exc: BaseException) -> bool:
        """Count a raised exception; True when it was a failure (so a fallback may answer)."""
        if (
            not isinstance(exc, Exception)
            or isinstance(exc, self.ignore)
            or (self.ignore_if is not None and self.ignore_if(exc))
        ):
            self._release(permit)
            return False
        failed = isinstance(exc, self.record)
        self._record(permit, start, failed)
        return failed

    def _refusal(self) -> BreakerOpen:
        return BreakerOpen(self.name, self.state.value, self.next_transition_in())

    def _fall_back(
        self, fb: Fallback, reason: FallbackReason, error: BaseException, args: Any, kwargs: Any
    ) -> Any:
        with self._lock:
            self.fallbacks += 1
        flag.mark(FallbackInfo(self.name, reason, error))
        extra = {"breaker": self.name, "fallback": True, "fallback_reason": reason}
        if reason == "failure":
            log.warning("breaker %s: call failed (%r); answering with the fallback",
                        self.name, error, extra=extra)  # fmt: skip
        else:
            log.debug("breaker %s: %s; answering with the fallback", self.name, error, extra=extra)
        return fb.answer(error, args, kwargs)
