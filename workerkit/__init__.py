"""workerkit: reliable task workers on RabbitMQ.

Nothing is lost: a message is acked only after its outcome is durable. Failures retry through
broker-side retry queues and end in a dead-letter table an operator can inspect and replay.
"""

from workerkit.app import App
from workerkit.breakers import CircuitBreaker, Fallback, last_call_was_fallback
from workerkit.config import Settings
from workerkit.context import Context
from workerkit.errors import (
    BreakerOpen,
    BrokerUnavailable,
    ConfigError,
    ConsumerDefinitionError,
    DatabaseUnavailable,
    InvalidMessage,
    NonRetriable,
    PublishError,
    PublishNotConfirmed,
    Retry,
    Unroutable,
    WorkerkitError,
    ZooKeeperUnavailable,
)
from workerkit.message import Message
from workerkit.middleware import Middleware
from workerkit.retries import RetryPolicy, retry_call, retrying

__version__ = "0.1.0"

__all__ = [
    "App",
    "BreakerOpen",
    "CircuitBreaker",
    "Fallback",
    "BrokerUnavailable",
    "ConfigError",
    "ConsumerDefinitionError",
    "Context",
    "DatabaseUnavailable",
    "InvalidMessage",
    "Message",
    "Middleware",
    "NonRetriable",
    "PublishError",
    "PublishNotConfirmed",
    "Retry",
    "RetryPolicy",
    "Settings",
    "Unroutable",
    "WorkerkitError",
    "ZooKeeperUnavailable",
    "last_call_was_fallback",
    "retry_call",
    "retrying",
]
