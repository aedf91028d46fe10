"""ZooKeeper plumbing shared by the admin CLIs (``switches`` and ``breakers``).

One place decides how a command connects (admin digest only for writes, never printed), the
options every audited write takes, and how the audit trail is shown, so the two CLIs cannot
drift apart on what ``--reason`` means. ZooKeeper's refusals become exit codes in
:func:`workerkit.cli.common.handle_errors`, with every other known failure.
"""

from __future__ import annotations

import getpass
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol, TypeVar

import click
from rich.console import Console, RenderableType
from rich.table import Table

from workerkit.cli.common import handle_errors, settings_from
from workerkit.zk.client import ZkClient
from workerkit.zk.errors import NotAuthorised
from workerkit.zk.writer import AuditEntry

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def connected(ctx: click.Context, *, write: bool) -> Iterator[tuple[ZkClient, str]]:
    """A started client and the root; ``write`` adds the admin digest, or refuses without it."""
    zk = settings_from(ctx).zookeeper
    if write and zk.admin_digest is None:
        raise NotAuthorised(
            "not authorised: changes need zookeeper.admin_digest "
            "(set WORKERKIT_ZOOKEEPER_ADMIN_DIGEST=user:password or the config file)"
        )
    # kazoo logs every failed connect attempt; the CLI says it once, in handle_errors
    logging.getLogger("workerkit.zk.kazoo").setLevel(logging.CRITICAL)
    client = ZkClient.from_settings(zk, admin=write)
    client.start()
    try:
        yield client, zk.root
    finally:
        client.stop()


def emit(as_json: bool, data: Any, render: Callable[[], RenderableType]) -> None:
    """JSON for scripts, a rich rendering for people; ``render`` runs only when needed."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        Console(highlight=False, soft_wrap=True).print(render())


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def write_options(fn: F) -> F:
    """``--reason`` (required), ``--by`` and ``--if-version`` for every audited change."""
    fn = click.option(
        "--if-version",
        type=int,
        default=None,
        help="Refuse unless the node is still at this version.",
    )(fn)
    fn = click.option(
        "--by",
        default=_os_user,
        show_default="the OS user",
        help="Who makes the change, for the audit trail.",
    )(fn)
    fn = click.option("--reason", required=True, help="Why, for the audit trail.")(fn)
    return json_option(fn)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class _HasHistory(Protocol):
    def history(self, name: str | None = None, limit: int = 50) -> list[AuditEntry]: ...


def add_history_command(
    group: click.Group,
    open_admin: Callable[[click.Context], AbstractContextManager[_HasHistory]],
    shown: tuple[str, ...],
) -> None:
    """``<group> history [NAME]``: the audit trail; ``shown`` are the document keys worth a
    column (the rest, such as reason and by, has columns of its own)."""

    @group.command("history")
    @click.argument("name", required=False)
    @click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
    @json_option
    @click.pass_context
    @handle_errors
    def history(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
        """Audit trail of changes, oldest first: who, when, why, old and new."""
        with open_admin(ctx) as admin:
            entries = admin.history(name, limit)
        emit(
            as_json,
            [e.__dict__ for e in entries],
            lambda: _history_table(entries, shown) if entries else "no changes recorded",
        )


def _history_table(entries: list[AuditEntry], shown: tuple[str, ...]) -> Table:
    table = Table("at", "name", "action", "by", "reason", "old", "new")
    for e in entries:
        old, new = _brief(e.old, shown), _brief(e.new, shown)
        table.add_row(e.at, e.name, e.action, e.by, e.reason, old, new)
    return table


def _brief(doc: Any, shown: tuple[str, ...]) -> str:
    if not isinstance(doc, dict):
        return "" if doc is None else json.dumps(doc)
    return json.dumps({k: v for k, v in doc.items() if k in shown}, sort_keys=True)
