"""AMQP header values <-> JSON that round-trips exactly.

Headers are stored as JSON so both SQLite and PostgreSQL can hold and show them, but AMQP
tables carry types JSON lacks: byte arrays (``bytearray``), long strings that were not UTF-8
(``bytes``), decimals, timestamps, non-finite floats. Replay must republish the *same* values,
so each of those is written as a one-key tagged object (``{"$bytes": "<base64>"}``) and a real
dict that happens to use a ``$`` key is wrapped in ``{"$dict": ...}`` so it can never be
mistaken for a tag.
"""

from __future__ import annotations

import base64
import math
from datetime import datetime
from decimal import Decimal
from typing import Any

_TAG_PREFIX = "$"


def encode_headers(headers: dict[str, Any] | None) -> dict[str, Any]:
    """Return a JSON-safe copy of ``headers``; :func:`decode_headers` reverses it exactly."""
    return {str(k): encode_value(v) for k, v in (headers or {}).items()}


def decode_headers(data: dict[str, Any] | None) -> dict[str, Any]:
    """Rebuild the header values written by :func:`encode_headers`."""
    return {k: decode_value(v) for k, v in (data or {}).items()}


def encode_value(value: Any) -> Any:
    # bool before int: bool is an int subclass and must stay a bool.
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, bytearray):  # an AMQP byte array ('x')
        return {"$bytearray": base64.b64encode(value).decode("ascii")}
    if isinstance(value, bytes | memoryview):  # a long string that was not UTF-8
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        encoded = {str(k): encode_value(v) for k, v in value.items()}
        if any(k.startswith(_TAG_PREFIX) for k in encoded):
            return {"$dict": encoded}
        return encoded
    raise TypeError(f"cannot store an AMQP header value of type {type(value).__name__}")


def decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "$bytes":
            return base64.b64decode(inner)
        if tag == "$bytearray":
            return bytearray(base64.b64decode(inner))
        if tag == "$decimal":
            return Decimal(inner)
        if tag == "$datetime":
            return datetime.fromisoformat(inner)
        if tag == "$float":
            return float(inner)
        if tag == "$dict":
            return {k: decode_value(v) for k, v in inner.items()}
    return {k: decode_value(v) for k, v in value.items()}
