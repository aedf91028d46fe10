"""Removing secrets from text and event data before it leaves the process.

Two nets, because either alone misses something: the exact values of the secrets this
process was configured with (broker and database URLs, webhook, DSN, ZooKeeper digest),
and patterns for secrets it was never told about (a password inside any URL, a Slack
webhook path, a value stored under a key such as ``password`` or ``api_token``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from workerkit.config import Settings

FILTERED = "[Filtered]"

#: attributes every LogRecord has; anything else on a record came from ``extra``
STANDARD_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

#: a key with one of these words (split on ``_``, ``-``, ``.``) has its value replaced whole
SECRET_WORDS = frozenset(
    {"pass", "pwd", "apikey", "auth", "authorization", "dsn", "digest"}
    | {"webhook", "cookie", "credential", "credentials"}
)
#: ...and so does a key that contains one of these anywhere
SECRET_PARTS = ("password", "passwd", "secret", "token", "api_key", "api-key", "private_key")
#: ``scheme://user:password@host`` keeps the user and host, loses the password
URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@")
#: Slack incoming webhooks carry their secret in the path
SLACK_HOOK = re.compile(r"https://hooks\.slack\.com/[^\s\"'<>]+")


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret value in ``settings``, and the parts of each worth matching alone.

    Of the broker and database URLs only the password is secret: the rest tells an
    operator which server failed. Webhook, DSN and digest are secret whole.
    """
    found: list[str] = []
    for url in (settings.broker.url, settings.deadletters.database_url):
        found.append(_userinfo(url.get_secret_value())[1])
    for secret in (settings.alerts.slack_webhook_url, settings.sentry.dsn):
        if secret is not None:
            value = secret.get_secret_value()
            found.append(value)
            found.append(_userinfo(value)[0])  # a DSN's public key is its user name
    if settings.zookeeper.admin_digest is not None:
        digest = settings.zookeeper.admin_digest.get_secret_value()
        found += [digest, digest.partition(":")[2]]
    # short values (a default password such as "guest") would shred ordinary words
    return sorted({v for v in found if len(v) >= 6}, key=len, reverse=True)


def _userinfo(url: str) -> tuple[str, str]:
    """User name and password of ``url``, empty when absent or unparseable."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "", ""
    return parts.username or "", parts.password or ""


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    if any(part in lowered for part in SECRET_PARTS):
        return True
    return any(word in SECRET_WORDS for word in re.split(r"[_\-.\s]+", lowered))


class Scrubber:
    """Replaces known secret values and secret-looking text; safe to share across threads."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, FILTERED)
        value = URL_PASSWORD.sub(lambda m: f"{m.group('head')}{FILTERED}@", value)
        return SLACK_HOOK.sub(FILTERED, value)

    def data(self, value: Any) -> Any:
        """A copy of ``value`` (JSON-like data) with every string scrubbed and every value
        under a secret-sounding key replaced."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: FILTERED
                if isinstance(k, str) and is_secret_key(k) and v not in (None, "")
                else self.data(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value


class ScrubFilter(logging.Filter):
    """Scrubs each record's text, traceback and ``extra`` fields before any handler formats
    them.

    Failure lines quote exception messages, and those quote whatever the failing code had
    in hand (a connection URL with its password, say). ``extra`` fields reach JSON lines
    whole, so a secret-sounding one (``api_token``) is replaced and the strings in the rest
    are scrubbed like the text. Install it on a handler; it rewrites the record, so every
    later handler sees the scrubbed values too.
    """

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__()
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the handler's to report
            return True
        clean = self.scrubber.text(text)
        if clean != text:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrubber.text(record.exc_text)
        for name, value in list(record.__dict__.items()):
            if name in STANDARD_RECORD_ATTRS:
                continue
            if is_secret_key(name) and value not in (None, ""):
                setattr(record, name, FILTERED)
            elif isinstance(value, str | dict | list | tuple):
                setattr(record, name, self.scrubber.data(value))
        return True
