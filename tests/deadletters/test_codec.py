"""Header values survive the trip through JSON with their exact types."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from workerkit.deadletters.codec import decode_headers, encode_headers

CASES: dict[str, Any] = {
    "byte array": bytearray(b"\x00\x01\xfe\xff"),
    "non-utf8 string": b"caf\xe9",
    "decimal": Decimal("12.3400"),
    "negative decimal": Decimal("-0.001"),
    "aware datetime": datetime(2026, 5, 1, 12, 30, 15, tzinfo=UTC),
    "other zone": datetime(2026, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))),
    "naive datetime": datetime(2026, 5, 1, 12, 30),
    "big int": 10**30,
    "bool": True,
    "none": None,
    "float": 1.25,
    "text": "naïve ✓",
    "nested": {"a": [1, bytearray(b"x"), {"b": Decimal("1.0")}], "c": {"d": None}},
    "dollar keys": {"$bytes": "not a tag", "$x": 1},
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_header_value_round_trips_with_its_exact_type(name: str) -> None:
    headers = {name: CASES[name]}

    stored = json.loads(json.dumps(encode_headers(headers)))
    back = decode_headers(stored)

    assert back == headers
    assert _types(back) == _types(headers)


def test_non_finite_floats_round_trip() -> None:
    back = decode_headers(json.loads(json.dumps(encode_headers({"n": math.inf, "m": -math.inf}))))
    assert back == {"n": math.inf, "m": -math.inf}
    assert math.isnan(decode_headers(encode_headers({"x": math.nan}))["x"])


def test_a_value_amqp_cannot_carry_is_refused_with_its_type_named() -> None:
    with pytest.raises(TypeError, match="set"):
        encode_headers({"bad": {1, 2}})


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value), getattr(value, "tzinfo", None)
