"""Versioned writes of JSON nodes with an audit trail, for admin tools only.

Every change is one ZooKeeper transaction: the write itself, conditioned on the version the
operator read (a concurrent edit is refused, never overwritten), and a sequential audit node
``<root>/audit/<kind>/<name>/entry-NNNNNNNNNN`` with who, when, old, new and why. Either both
exist or neither does. Nodes are created with ACLs that let everyone read and only the admin
digest write, so workers can follow them but never change them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from workerkit.zk.client import ZkClient
from workerkit.zk.errors import ConcurrentEdit, InvalidDocument, NodeExists, NodeMissing
from workerkit.zk.ops import Create, Delete, Op, SetData
from workerkit.zk.types import Access

#: the kinds of admin-written nodes under a root, each with its audit trail
ADMIN_KINDS = ("switches", "breakers")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


@dataclass(frozen=True)
class Node:
    name: str
    data: Any  # parsed JSON; the raw text when the node is malformed
    version: int
    valid: bool = True


@dataclass(frozen=True)
class AuditEntry:
    name: str
    seq: int
    at: str
    by: str
    action: str  # create | update | delete
    reason: str
    old: Any
    new: Any


class AdminWriter:
    """Reads and writes ``<root>/<kind>/<name>``; ``noun`` names one node in messages."""

    def __init__(self, client: ZkClient, root: str, kind: str, noun: str) -> None:
        self.client, self.root, self.kind, self.noun = client, root, kind, noun
        self.base = f"{root}/{kind}"
        self.audit_base = f"{root}/audit/{kind}"

    def read(self, name: str) -> Node:
        data, stat = self.client.get(self._path(name))
        try:
            return Node(name, json.loads(data.decode("utf-8")), stat.version)
        except (UnicodeDecodeError, ValueError):
            return Node(name, data.decode("utf-8", "replace"), stat.version, valid=False)

    def names(self) -> list[str]:
        try:
            return sorted(self.client.get_children(self.base))
        except NodeMissing:
            return []

    def nodes(self) -> list[Node]:
        """Every node, sorted by name; one deleted while we list is left out."""
        found = []
        for name in self.names():
            try:
                found.append(self.read(name))
            except NodeMissing:
                continue
        return found

    def current(self, name: str, if_version: int | None) -> tuple[Any, int | None]:
        """The document and version a change should build on; ``(None, None)`` if absent.

        ``if_version`` is what a script saw earlier: any other version (or no node) means
        someone else changed it since, and the change is refused rather than overwriting.
        """
        try:
            node = self.read(name)
        except NodeMissing:
            if if_version is not None:
                raise ConcurrentEdit(
                    f"{self.noun} {name!r} no longer exists (expected version {if_version}); "
                    "nothing was written"
                ) from None
            return None, None
        if if_version is not None and node.version != if_version:
            raise ConcurrentEdit(
                f"{self.noun} {name!r} is at version {node.version}, not {if_version}: someone "
                "changed it since you looked; nothing was written. Look again and retry."
            )
        return node.data, node.version

    def write(
        self, name: str, new: Any, *, version: int | None, by: str, reason: str, old: Any = None
    ) -> None:
        """Create (``version=None``) or replace the node if it still has ``version``."""
        path = self._path(name)
        data = _dump(new)
        if version is None:
            change: Op = Create(path, data, Access.ADMIN_WRITES)
        else:
            change = SetData(path, data, version)
        action = "create" if version is None else "update"
        self._commit(name, change, action, by, reason, old, new)

    def delete(self, name: str, *, version: int, by: str, reason: str, old: Any) -> None:
        self._commit(name, Delete(self._path(name), version), "delete", by, reason, old, None)

    def history(self, name: str | None = None, limit: int = 50) -> list[AuditEntry]:
        """Newest last; at most ``limit`` entries across the names asked for."""
        if name is not None:
            self._path(name)  # validates it
        try:
            names = [name] if name else self.client.get_children(self.audit_base)
        except NodeMissing:
            return []
        entries: list[AuditEntry] = []
        for n in names:
            try:
                children = self.client.get_children(f"{self.audit_base}/{n}")
            except NodeMissing:
                continue
            paths = [f"{self.audit_base}/{n}/{c}" for c in sorted(children)[-limit:]]
            for path, found in self.client.get_many(paths).items():
                if found is not None:
                    entries.append(_audit(n, path, found[0]))
        entries.sort(key=lambda e: (e.at, e.name, e.seq))
        return entries[-limit:]

    def _commit(
        self, name: str, change: Op, action: str, by: str, reason: str, old: Any, new: Any
    ) -> None:
        self._ensure_parents(name)
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "by": by,
            "action": action,
            "reason": reason,
            "old": old,
            "new": new,
        }
        audit = Create(f"{self.audit_base}/{name}/entry-", _dump(entry), Access.ADMIN_WRITES, True)
        try:
            self.client.commit([change, audit])
        except (NodeExists, NodeMissing) as exc:
            if change.path not in str(exc):
                raise
            raise ConcurrentEdit(
                f"{self.noun} {name!r} was {'created' if action == 'create' else 'deleted'} "
                "by someone else since it was read; nothing was written. Look again and retry."
            ) from None
        except ConcurrentEdit:
            raise ConcurrentEdit(
                f"{self.noun} {name!r} was changed by someone else since it was read; "
                "nothing was written. Look again and retry."
            ) from None

    def _path(self, name: str) -> str:
        """The node of ``name``; a name that is not one plain path segment is refused."""
        if not _NAME.fullmatch(name):
            raise InvalidDocument(
                f"invalid {self.noun} name {name!r}: use 1-128 letters, digits, "
                "'.', '_', '-' or ':', starting with a letter or digit"
            )
        return f"{self.base}/{name}"

    def _ensure_parents(self, name: str) -> None:
        if self.client.exists(f"{self.audit_base}/{name}") is not None:
            return
        self.client.ensure_path(self.root, Access.WORKERS_CREATE)
        # a worker without the digest that started first made the root open to all: close it
        self.client.set_access(self.root, Access.WORKERS_CREATE)
        # every admin base at once: anyone may add children to the root, so a base left
        # missing could be created by a client without the digest, open to all
        for kind in ADMIN_KINDS:
            self.client.ensure_path(f"{self.root}/{kind}", Access.ADMIN_WRITES)
            self.client.ensure_path(f"{self.root}/audit/{kind}", Access.ADMIN_WRITES)
        self.client.ensure_path(f"{self.audit_base}/{name}", Access.ADMIN_WRITES)


def _dump(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _audit(name: str, path: str, data: bytes) -> AuditEntry:
    seq = int(path.rpartition("-")[2])
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = {"action": "unreadable"}
    return AuditEntry(
        name,
        seq,
        str(doc.get("at", "")),
        str(doc.get("by", "")),
        str(doc.get("action", "")),
        str(doc.get("reason", "")),
        doc.get("old"),
        doc.get("new"),
    )
