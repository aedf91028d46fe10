"""Operator actions on breaker overrides: read, force open, force closed, back to auto, history.

A thin layer over :class:`workerkit.zk.writer.AdminWriter` that knows the override document.
Every change writes a whole new document (an override has no fields worth merging), versioned
on what was just read, with the audit entry in the same transaction; ``auto`` is written as a
node rather than a deletion so ``breakers list`` still shows who handed control back and why.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from workerkit.breakers.override import Mode, Override, override_from_json
from workerkit.errors import InvalidOverride
from workerkit.zk.client import ZkClient
from workerkit.zk.errors import InvalidDocument, NodeMissing
from workerkit.zk.writer import AdminWriter, AuditEntry, Node


class BreakerAdmin:
    """What an operator may do to breaker overrides; writes need the admin digest."""

    def __init__(self, client: ZkClient, root: str) -> None:
        self.writer = AdminWriter(client, root, "breakers", "breaker")

    def get(self, name: str) -> Node | None:
        """The override node, or None when there is none (the breaker runs on its counts)."""
        try:
            return self.writer.read(name)
        except NodeMissing:
            return None

    def list_nodes(self) -> list[Node]:
        return self.writer.nodes()

    def set_mode(
        self,
        name: str,
        mode: Mode,
        *,
        by: str,
        reason: str,
        duration: timedelta | None = None,
        if_version: int | None = None,
    ) -> Override:
        """Force ``name`` open or closed (for ``duration``, else until told otherwise), or
        hand it back to its own counts with ``Mode.AUTO``."""
        until = datetime.now(UTC).replace(microsecond=0) + duration if duration else None
        try:
            override = Override(mode, until, reason, by)
        except InvalidOverride as exc:
            raise InvalidDocument(f"breaker {name!r}: {exc}") from None
        old, version = self.writer.current(name, if_version)
        doc = override.as_json()
        self.writer.write(name, doc, version=version, by=by, reason=reason, old=old)
        return override

    def history(self, name: str | None = None, limit: int = 50) -> list[AuditEntry]:
        return self.writer.history(name, limit)


def describe_node(node: Node | None, now: datetime | None = None) -> dict[str, Any]:
    """What workers make of a node: the mode in force now, and the document behind it.

    An expired ``until`` reads as ``auto`` (workers dropped it); a malformed document is
    reported as such, since workers keep whatever override they had before it.
    """
    if node is None:
        return {"mode": Mode.AUTO.value, "override": None, "version": None, "valid": True}
    result: dict[str, Any] = {"override": node.data, "version": node.version, "valid": False}
    if not node.valid:
        result.update(mode="malformed", problem="not JSON")
        return result
    try:
        override = override_from_json(node.data)
    except InvalidOverride as exc:
        result.update(mode="malformed", problem=str(exc))
        return result
    expired = override.until is not None and override.until <= (now or datetime.now(UTC))
    result.update(mode=Mode.AUTO.value if expired else override.mode.value, valid=True)
    if expired:
        result["expired"] = True
    return result
