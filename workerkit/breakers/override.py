"""Operator overrides: force a breaker open or closed, everywhere, possibly until a set time.

The override document lives in ZooKeeper at ``<root>/breakers/<name>``, written by the CLI
and read by every worker's watch::

    {"mode": "force_open", "until": "2026-11-22T04:00:00Z", "reason": "TMS outage", "by": "ana"}

:func:`parse_override` is pure so the watch can call it on ZooKeeper's thread and keep the
last good value when a node holds garbage. It is strict on purpose: a misspelt ``"untill"``
silently ignored would turn a ten-minute force into a permanent one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from workerkit.errors import InvalidOverride

_FIELDS = ("mode", "until", "reason", "by")


class Mode(StrEnum):
    """Who decides the breaker's state: its own counts, or an operator."""

    AUTO = "auto"
    FORCE_OPEN = "force_open"
    FORCE_CLOSED = "force_closed"


@dataclass(frozen=True, slots=True)
class Override:
    """One operator decision; ``until`` is aware wall-clock time, ``None`` open-ended."""

    mode: Mode = Mode.AUTO
    until: datetime | None = None
    reason: str | None = None
    by: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", to_mode(self.mode))
        if self.until is not None and self.until.utcoffset() is None:
            raise InvalidOverride("until must carry a timezone, e.g. 2026-11-22T04:00:00Z")
        if self.until is not None and self.mode is Mode.AUTO:
            raise InvalidOverride("until only applies to force_open or force_closed, not auto")

    def describe(self) -> str:
        """One line for logs and state-change events: what, by whom, until when, why."""
        text = "back to auto" if self.mode is Mode.AUTO else self.mode.value.replace("_", " ")
        if self.by:
            text += f" by {self.by}"
        if self.until is not None:
            text += f" until {self.until.isoformat()}"
        if self.reason:
            text += f": {self.reason}"
        return text

    def as_json(self) -> dict[str, Any]:
        """The node document :func:`override_from_json` reads back; what the CLI writes."""
        return {
            "mode": self.mode.value,
            "until": self.until.isoformat() if self.until else None,
            "reason": self.reason,
            "by": self.by,
        }


def to_mode(value: object) -> Mode:
    """``value`` as a Mode, or InvalidOverride listing the three that exist."""
    for mode in Mode:
        if value == mode.value:
            return mode
    raise InvalidOverride(f"mode must be one of auto, force_open, force_closed; got {value!r}")


AUTO = Override()


def parse_override(data: bytes | str) -> Override:
    """Read an override node's JSON. Raises :class:`InvalidOverride` naming the bad field.

    An empty node (created without data) means ``auto``, as does a missing node, which the
    caller handles before calling this.
    """
    if not data.strip():
        return AUTO
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidOverride(f"breaker override is not valid JSON: {exc}") from None
    return override_from_json(doc)


def override_from_json(doc: Any) -> Override:
    """Check an already-decoded override document (the watch cache decodes JSON itself)."""
    if not isinstance(doc, dict):
        raise InvalidOverride(f"breaker override must be a JSON object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - set(_FIELDS))
    if unknown:
        raise InvalidOverride(
            f"breaker override has unknown field(s) {', '.join(unknown)}; "
            f"expected {', '.join(_FIELDS)}"
        )
    return Override(
        mode=to_mode(doc.get("mode")),
        until=_parse_until(doc.get("until")),
        reason=_optional_text(doc, "reason"),
        by=_optional_text(doc, "by"),
    )


def _parse_until(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidOverride(f"until must be an ISO 8601 string or null, got {value!r}")
    try:
        until = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidOverride(
            f"until {value!r} is not ISO 8601; write it like 2026-11-22T04:00:00Z"
        ) from None
    if until.utcoffset() is None:
        raise InvalidOverride(f"until {value!r} has no timezone; add Z or +00:00")
    return until


def _optional_text(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidOverride(f"{key} must be a string or null, got {value!r}")
    return value
