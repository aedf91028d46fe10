"""Operator actions on switches: read, turn on/off, set a rollout or value, delete, history.

A thin layer over :class:`workerkit.zk.writer.AdminWriter` that knows the switch document.
Each change reads the node, builds the new document from it and writes it back conditioned on
the version it read (or on ``if_version``, for scripts that looked earlier), so two operators
editing at once never silently overwrite each other: the second gets ConcurrentEdit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workerkit.switches.model import Switch
from workerkit.zk.client import ZkClient
from workerkit.zk.errors import InvalidDocument, NodeMissing
from workerkit.zk.writer import AdminWriter, AuditEntry, Node


class SwitchAdmin:
    """What an operator may do to switches; needs a client holding the admin digest to write."""

    def __init__(self, client: ZkClient, root: str) -> None:
        self.writer = AdminWriter(client, root, "switches", "switch")

    def get(self, name: str) -> Node:
        """Raises NodeMissing when there is no such switch (workers use their default)."""
        try:
            return self.writer.read(name)
        except NodeMissing:
            raise NodeMissing(
                f"switch {name!r} does not exist: workers use the default in their code"
            ) from None

    def list_nodes(self) -> list[Node]:
        return self.writer.nodes()

    def turn(
        self, name: str, on: bool, *, by: str, reason: str, if_version: int | None = None
    ) -> dict[str, Any]:
        return self.update(name, {"on": on}, by=by, reason=reason, if_version=if_version)

    def update(
        self,
        name: str,
        fields: dict[str, Any],
        *,
        by: str,
        reason: str,
        if_version: int | None = None,
    ) -> dict[str, Any]:
        """Merge ``fields`` (``percent``/``value`` None = remove) into the switch and write it.

        A new switch starts on: setting a rollout or a value is meant to take effect.
        """
        old, version = self.writer.current(name, if_version)
        if old is None:
            doc: dict[str, Any] = {"on": True}
        elif _valid(name, old):
            doc = dict(old)
        elif "on" in fields:  # on/off rewrites a broken node from scratch
            doc = {}
        else:
            raise InvalidDocument(
                f"switch {name!r} holds an invalid document, so workers keep their previous "
                f"value; rewrite it with: workerkit switches on|off {name} --reason ..."
            )
        for key, val in fields.items():
            if val is None:
                doc.pop(key, None)
            else:
                doc[key] = val
        doc.update(reason=reason, updated_by=by, updated_at=_now())
        try:
            Switch.from_json(name, doc)  # refuse to write what workers would reject
        except ValueError as exc:
            raise InvalidDocument(f"switch {name!r} would be invalid: {exc}") from None
        self.writer.write(name, doc, version=version, by=by, reason=reason, old=old)
        return doc

    def delete(self, name: str, *, by: str, reason: str, if_version: int | None = None) -> None:
        old, version = self.writer.current(name, if_version)
        if version is None:
            raise NodeMissing(f"switch {name!r} does not exist")
        self.writer.delete(name, version=version, by=by, reason=reason, old=old)

    def history(self, name: str | None = None, limit: int = 50) -> list[AuditEntry]:
        return self.writer.history(name, limit)


def _valid(name: str, doc: Any) -> bool:
    try:
        Switch.from_json(name, doc)
    except (ValueError, TypeError):
        return False
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
