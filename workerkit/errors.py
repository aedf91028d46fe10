"""The error tree. Handlers raise the outcome errors; the framework raises the rest.

    WorkerkitError
    ├── ConfigError              a setting is missing, unknown or of the wrong type
    ├── ConsumerDefinitionError  ``@app.consumer(...)`` was given a bad option
    ├── ServiceUnavailable       a service needed at start-up cannot be reached
    │   ├── BrokerUnavailable
    │   ├── DatabaseUnavailable
    │   └── ZooKeeperUnavailable
    ├── PublishError             the broker did not take a message
    │   ├── Unroutable           no queue is bound for its exchange and routing key
    │   └── PublishNotConfirmed  nacked, or no confirm before the timeout
    ├── InvalidMessage           bytes, JSON, schema or headers are malformed (never retried)
    ├── BreakerOpen              a circuit breaker refused a call without running it
    ├── InvalidOverride          a breaker override document (ZooKeeper node) is malformed;
    │                            also a ValueError, as caches and parsers expect
    └── HandlerOutcome           raised by handlers to choose a message's fate
        ├── Retry                retry later, optionally after ``delay`` seconds
        └── NonRetriable         give up now: the message goes to the dead-letter table

Nothing outside ``workerkit.worker.dispatch`` turns these into acks.
"""

from __future__ import annotations


class WorkerkitError(Exception):
    """Root of every error workerkit raises on purpose."""


class ConfigError(WorkerkitError):
    """Configuration is wrong; the message names the key."""


class ConsumerDefinitionError(WorkerkitError):
    """A consumer was declared with a bad option; the message names the option."""


class ServiceUnavailable(WorkerkitError):
    """A service cannot be reached; the message names it and says how to start it."""


class BrokerUnavailable(ServiceUnavailable):
    pass


class DatabaseUnavailable(ServiceUnavailable):
    pass


class ZooKeeperUnavailable(ServiceUnavailable):
    pass


class PublishError(WorkerkitError):
    pass


class Unroutable(PublishError):
    """The broker returned a mandatory message: it would otherwise have vanished."""


class PublishNotConfirmed(PublishError):
    pass


class InvalidMessage(WorkerkitError):
    """A message that can never be handled as it is; it is dead-lettered with reason ``invalid``."""


class BreakerOpen(WorkerkitError):
    """A breaker refused the call without running it, so the dependency was never touched.

    ``retry_after`` is the number of seconds until the breaker will admit probes again, when
    that is known (``None`` while forced open without an expiry or while probes are out).
    """

    def __init__(self, name: str, state: str, retry_after: float | None = None) -> None:
        wait = "" if retry_after is None else f"; probes again in {retry_after:.1f}s"
        super().__init__(f"circuit breaker {name!r} is {state}{wait}")
        self.name = name
        self.state = state
        self.retry_after = retry_after


class InvalidOverride(WorkerkitError, ValueError):
    """An override document cannot be applied; the message says which field and why."""


class HandlerOutcome(WorkerkitError):
    """Base of the exceptions a handler raises to pick a message's fate."""


class Retry(HandlerOutcome):
    """Ask for another attempt later; ``delay`` overrides the policy's delay for this attempt."""

    def __init__(self, message: str = "retry requested", *, delay: float | None = None) -> None:
        super().__init__(message)
        if delay is not None and delay <= 0:
            raise ValueError("Retry(delay=...) must be a positive number of seconds")
        self.delay = delay


class NonRetriable(HandlerOutcome):
    """Give up on this message now, whatever attempts are left."""
