"""Retry policy and the in-process retry helper."""

from workerkit.retries.inprocess import retry_call, retrying
from workerkit.retries.policy import Decision, RetryPolicy

__all__ = ["Decision", "RetryPolicy", "retry_call", "retrying"]
