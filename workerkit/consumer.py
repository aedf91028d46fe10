"""A handler plus its validated options. Everything is checked when the decorator runs, so a
bad option fails at import with the option's name, not at the first message in production."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel

from workerkit.broker.topology import ConsumerTopology, plan, validate_queue_name
from workerkit.config import Settings
from workerkit.errors import ConsumerDefinitionError
from workerkit.message import Message
from workerkit.retries.policy import DEFAULT_RETRY_ON, RetryPolicy

Handler = Callable[..., Any]
OrderingKey = str | Callable[[Message], Hashable]

OPTIONS = (
    "name",
    "exchange",
    "routing_key",
    "exchange_type",
    "queue_type",
    "concurrency",
    "min_concurrency",
    "max_concurrency",
    "max_attempts",
    "retry_delays",
    "retry_policy",
    "retry_on",
    "dead_on",
    "accept",
    "switch",
    "pause_when_open",
    "ordering_key",
)


@dataclass(frozen=True)
class Consumer:
    queue: str
    handler: Handler
    name: str
    is_async: bool
    model: type[BaseModel] | None
    takes_context: bool
    exchange: str | None
    routing_keys: tuple[str, ...]
    exchange_type: str
    queue_type: Literal["classic", "quorum"]
    min_concurrency: int
    max_concurrency: int
    retry: RetryPolicy
    accept: frozenset[str] | None
    switch: str | None
    pause_when_open: tuple[str, ...]
    ordering_key: OrderingKey | None = field(default=None)

    @property
    def elastic(self) -> bool:
        return self.min_concurrency != self.max_concurrency

    def topology(self) -> ConsumerTopology:
        """The queues and bindings this consumer needs (a fresh plan: it grows with ad-hoc
        retry delays)."""
        return plan(
            self.queue,
            queue_type=self.queue_type,
            exchange=self.exchange,
            routing_keys=self.routing_keys,
            exchange_type=self.exchange_type,
            delays=self.retry.distinct_delays(),
        )


def _fail(queue: str, option: str, problem: str) -> ConsumerDefinitionError:
    return ConsumerDefinitionError(f"consumer {queue!r}: option {option!r} {problem}")


def _exception_types(queue: str, option: str, value: Any) -> tuple[type[BaseException], ...]:
    items = value if isinstance(value, tuple | list) else (value,)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise _fail(queue, option, f"must be exception types, got {item!r}")
    return tuple(items)


def _inspect_handler(queue: str, handler: Handler) -> tuple[bool, type[BaseModel] | None, bool]:
    if not callable(handler):
        raise ConsumerDefinitionError(f"consumer {queue!r}: handler {handler!r} is not callable")
    params = [
        p
        for p in inspect.signature(handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not 1 <= len(params) <= 2:
        raise ConsumerDefinitionError(
            f"consumer {queue!r}: handler {_name(handler)} must take (message) or "
            f"(message, ctx), it takes {len(params)} positional parameters"
        )
    try:
        hints = get_type_hints(handler)
    except Exception:  # noqa: BLE001 - unresolvable forward refs: treat as unannotated
        hints = {}
    first = hints.get(params[0].name)
    model = first if isinstance(first, type) and issubclass(first, BaseModel) else None
    # an async function behind a plain decorator, or an object with async __call__, is async
    target = handler if inspect.isroutine(handler) else type(handler).__call__
    is_async = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        inspect.unwrap(target)
    )
    return is_async, model, len(params) == 2


def _name(handler: Handler) -> str:
    """Functions have a qualified name; a callable object is named by its class."""
    return getattr(handler, "__qualname__", None) or type(handler).__qualname__


def build_consumer(
    queue: str, handler: Handler, settings: Settings, options: dict[str, Any]
) -> Consumer:
    """Validate ``options`` against the app's settings and return the consumer definition."""
    validate_queue_name(queue)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], OPTIONS, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else f"; known options: {OPTIONS}"
        raise _fail(queue, unknown[0], f"is unknown{suggestion}")
    is_async, model, takes_context = _inspect_handler(queue, handler)
    o = options

    fixed = o.get("concurrency")
    lo, hi = o.get("min_concurrency"), o.get("max_concurrency")
    if fixed is not None:
        if lo is not None or hi is not None:
            raise _fail(queue, "concurrency", "cannot be combined with min/max_concurrency")
        lo = hi = fixed
    lo = settings.worker.min_concurrency if lo is None else lo
    hi = settings.worker.max_concurrency if hi is None else hi
    for opt, val in (("min_concurrency", lo), ("max_concurrency", hi)):
        if not isinstance(val, int) or isinstance(val, bool) or not 1 <= val <= 1000:
            raise _fail(
                queue, opt if fixed is None else "concurrency", f"must be 1..1000, got {val!r}"
            )
    if lo > hi:
        raise _fail(queue, "min_concurrency", f"({lo}) is greater than max_concurrency ({hi})")

    retry = o.get("retry_policy")
    if retry is not None:
        if not isinstance(retry, RetryPolicy):
            raise _fail(queue, "retry_policy", "must be a RetryPolicy")
        if any(k in o for k in ("max_attempts", "retry_delays", "retry_on", "dead_on")):
            raise _fail(
                queue, "retry_policy", "cannot be combined with max_attempts/retry_* options"
            )
    else:
        try:
            retry = RetryPolicy(
                max_attempts=o.get("max_attempts", settings.retries.max_attempts),
                delays=tuple(float(d) for d in o.get("retry_delays", settings.retries.delays)),
                retry_on=_exception_types(queue, "retry_on", o.get("retry_on", DEFAULT_RETRY_ON)),
                dead_on=_exception_types(queue, "dead_on", o.get("dead_on", ())),
            )
        except (TypeError, ValueError) as exc:
            raise _fail(queue, "max_attempts/retry_delays", str(exc)) from None

    queue_type = o.get("queue_type", "classic")
    if queue_type not in ("classic", "quorum"):
        raise _fail(queue, "queue_type", f"must be 'classic' or 'quorum', got {queue_type!r}")
    exchange = o.get("exchange")
    rk = o.get("routing_key")
    routing_keys = (rk,) if isinstance(rk, str) else tuple(rk or ())
    if exchange is None and routing_keys:
        raise _fail(
            queue, "routing_key", "needs an exchange (the default exchange routes by queue name)"
        )
    if exchange is not None and not routing_keys:
        routing_keys = (queue,)
    accept = o.get("accept")
    if accept is not None:
        if isinstance(accept, str) or not all(isinstance(a, str) for a in accept):
            raise _fail(queue, "accept", "must be a list of content types")
        accept = frozenset(a.lower() for a in accept)
    ordering_key = o.get("ordering_key")
    if ordering_key is not None and not (isinstance(ordering_key, str) or callable(ordering_key)):
        raise _fail(queue, "ordering_key", "must be a header name or a function of the message")
    pause_when_open = o.get("pause_when_open", ())
    if isinstance(pause_when_open, str):
        pause_when_open = (pause_when_open,)
    return Consumer(
        queue=queue,
        handler=handler,
        name=o.get("name") or f"{handler.__module__}:{_name(handler)}",
        is_async=is_async,
        model=model,
        takes_context=takes_context,
        exchange=exchange,
        routing_keys=routing_keys,
        exchange_type=o.get("exchange_type", "topic"),
        queue_type=queue_type,
        min_concurrency=lo,
        max_concurrency=hi,
        retry=retry,
        accept=accept,
        switch=o.get("switch"),
        pause_when_open=tuple(pause_when_open),
        ordering_key=ordering_key,
    )
