"""Deterministic percentage rollout: the same key gets the same answer in every process.

A key's bucket is the first 8 bytes of ``sha1(salt + ":" + key)`` modulo 10,000 (basis points),
so it depends on nothing but the switch's salt and the key: not on ``hash()`` (randomised per
process), not on the process, not on the order of calls. A key is in the rollout when its
bucket is below ``percent * 100``; raising the percentage therefore only ever adds keys, and
lowering it only removes them. A per-switch salt (the switch name by default) keeps rollouts of
different switches independent, unlike gargoyle's ``id % 100``.

sha1 costs about a microsecond, so buckets are memoized. ``functools.lru_cache`` rather than a
cachetools cache: it is implemented in C and thread-safe without a lock of ours, and a bucket
is a pure function of its arguments, so a shared memo can never serve a stale answer. The
percentage itself is never cached: a flip applies to the very next call.
"""

from __future__ import annotations

import functools
import hashlib

BUCKETS = 10_000
MEMO_SIZE = 65_536


@functools.lru_cache(maxsize=MEMO_SIZE)
def bucket(salt: str, key: str) -> int:
    """The key's place in ``range(BUCKETS)`` for this salt."""
    digest = hashlib.sha1(f"{salt}:{key}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def threshold(percent: float) -> int:
    """Buckets below this number are in the rollout; 0 admits nobody, 100 everybody."""
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be between 0 and 100, got {percent!r}")
    return round(percent * BUCKETS / 100)


def in_rollout(salt: str, key: str | int, percent: float) -> bool:
    return bucket(salt, str(key)) < threshold(percent)
