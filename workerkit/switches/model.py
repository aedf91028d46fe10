"""One switch as stored in ``<root>/switches/<name>``, validated once when it changes.

The node holds JSON ``{"on": bool, "percent": 0-100, "value": any, "salt": str, "reason",
"updated_by", "updated_at"}``; only ``on`` is required. Parsing happens on the cache's sync
thread, so a read on the hot path finds precomputed fields (``plain``, ``limit``) and does no
validation at all. Anything invalid raises ValueError, which makes the cache keep the
previous value and log the node. ``value`` is frozen (objects become read-only mappings,
arrays tuples): every caller shares it, so one caller's mutation must not reach the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from workerkit.switches.rollout import bucket, threshold

_FIELDS = {"on", "percent", "value", "salt", "reason", "updated_by", "updated_at"}


@dataclass(frozen=True)
class Switch:
    name: str
    on: bool
    percent: float | None = None
    value: Any = None
    salt: str | None = None
    reason: str = ""
    updated_by: str = ""
    updated_at: str = ""
    # derived: the answer without a key, and the bucket limit with one
    plain: bool = field(init=False, compare=False)
    limit: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        full = self.percent is None or self.percent >= 100
        object.__setattr__(self, "plain", self.on and full)
        object.__setattr__(self, "limit", threshold(100 if self.percent is None else self.percent))

    def decide(self, key: str | int) -> bool:
        """Whether ``key`` is in; a partial rollout without a key counts as off (``plain``)."""
        if not self.on:
            return False
        return self.percent is None or bucket(self.salt or self.name, str(key)) < self.limit

    @classmethod
    def from_json(cls, name: str, raw: Any) -> Switch:
        if not isinstance(raw, dict):
            raise ValueError(f"expected a JSON object, got {type(raw).__name__}")
        unknown = raw.keys() - _FIELDS
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        on = raw.get("on")
        if not isinstance(on, bool):
            raise ValueError('"on" must be true or false')
        percent = raw.get("percent")
        if percent is not None and (
            isinstance(percent, bool) or not isinstance(percent, int | float)
        ):
            raise ValueError('"percent" must be a number from 0 to 100')
        texts = {k: raw.get(k) or "" for k in ("reason", "updated_by", "updated_at")}
        if not all(isinstance(v, str) for v in texts.values()):
            raise ValueError('"reason", "updated_by" and "updated_at" must be strings')
        salt = raw.get("salt")
        if salt is not None and not isinstance(salt, str):
            raise ValueError('"salt" must be a string')
        return cls(name, on, percent, freeze(raw.get("value")), salt, **texts)


def freeze(doc: Any) -> Any:
    """A read-only copy of parsed JSON: dicts become mapping proxies, lists tuples."""
    if isinstance(doc, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in doc.items()})
    if isinstance(doc, list | tuple):
        return tuple(freeze(v) for v in doc)
    return doc
