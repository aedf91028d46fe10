"""How dead letters look to an operator: rich tables, the detail page, and JSON for scripts.

JSON output uses the stored (tagged) header encoding and base64 bodies, so ``export`` lines
hold every byte and type needed to rebuild a message.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from workerkit.deadletters.codec import decode_headers
from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.reads import FailureGroup

_SUMMARY = (
    "id",
    "created_at",
    "queue",
    "consumer",
    "error_type",
    "error_message",
    "status",
    "reason",
    "attempts",
    "fingerprint",
    "replayed_from",
)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def summary(row: DeadLetter) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in _SUMMARY}


def full(row: DeadLetter) -> dict[str, Any]:
    """Every column; ``body`` as base64, headers and properties in the stored JSON form."""
    data = {c.key: _plain(getattr(row, c.key)) for c in DeadLetter.__table__.columns}
    data["body"] = base64.b64encode(row.body).decode("ascii")
    return data


def group_dict(group: FailureGroup) -> dict[str, Any]:
    return {k: _plain(v) for k, v in asdict(group).items()}


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%m-%d %H:%M") if moment else ""


def rows_table(rows: list[DeadLetter]) -> Table:
    """Narrow enough for 80 columns: paired values share a cell on two lines."""
    table = Table(header_style="bold")
    table.add_column("id", no_wrap=True, justify="right")
    table.add_column("failed (UTC)", no_wrap=True)
    table.add_column("queue / consumer", overflow="fold", ratio=1)
    table.add_column("error", overflow="fold", ratio=2)
    table.add_column("status", no_wrap=True)
    table.add_column("tries", no_wrap=True, justify="right")
    for r in rows:
        error = Text(r.error_type, style="red")
        error.append(f"\n{_shorten(r.error_message, 80)}", style="default")
        table.add_row(
            str(r.id),
            _when(r.created_at),
            f"{r.queue}\n{r.consumer}",
            error,
            f"{r.status}\n{r.reason}",
            str(r.attempts),
        )
    return table


def groups_table(groups: list[FailureGroup]) -> Table:
    table = Table(header_style="bold")
    table.add_column("fingerprint", no_wrap=True)
    table.add_column("count", no_wrap=True, justify="right")
    table.add_column("first / last", no_wrap=True)
    table.add_column("failure / sample", overflow="fold", ratio=2)
    table.add_column("queues", overflow="fold", ratio=1)
    for g in groups:
        title = Text(g.error_type, style="red")
        if g.fault_location:
            title.append(f" at {g.fault_location}", style="default")
        title.append(f"\n#{g.sample_id}: {_shorten(g.sample_message, 60)}", style="default")
        table.add_row(
            g.fingerprint,
            str(g.count),
            f"{_when(g.first_seen)}\n{_when(g.last_seen)}",
            title,
            ", ".join(g.queues),
        )
    return table


def print_row(console: Console, row: DeadLetter, chain: list[DeadLetter]) -> None:
    """The detail page: metadata, headers, history, traceback, body, replay chain."""
    meta = Table.grid(padding=(0, 2))
    skip = {"headers", "properties", "body", "history", "traceback"}
    for column in DeadLetter.__table__.columns:
        if column.key not in skip:
            value = getattr(row, column.key)
            meta.add_row(
                Text(column.key, style="bold"),
                Text(str(_plain(value) if value is not None else "-")),
            )
    console.print(Panel(meta, title=f"dead letter {row.id}", title_align="left"))
    console.print(_mapping_table("headers", decode_headers(row.headers)))
    console.print(_mapping_table("properties", decode_headers(row.properties)))
    history = Table("attempt", "at", "error type", "message", title="history", title_justify="left")
    for step in row.history:
        history.add_row(
            str(step.get("attempt", "")),
            str(step.get("at", "")),
            str(step.get("error_type", "")),
            str(step.get("error_message", "")),
        )
    console.print(history)
    console.print(Panel(Text(row.traceback), title="traceback", title_align="left"))
    console.print(
        Panel(
            body_view(row.body, row.content_type),
            title=f"body ({len(row.body)} bytes)",
            title_align="left",
        )
    )
    console.print(chain_view(row, chain))


def _mapping_table(title: str, values: dict[str, Any]) -> Table:
    table = Table("name", "value", "type", title=title, title_justify="left")
    for key, value in values.items():
        table.add_row(
            key, Text(repr(value) if not isinstance(value, str) else value), type(value).__name__
        )
    return table


def body_view(body: bytes, content_type: str | None) -> Syntax | Text:
    """JSON pretty-printed; other UTF-8 text escaped; anything else as a hex dump."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Text(hexdump(body))
    try:
        parsed = json.loads(text)
    except ValueError:
        return Text(text.encode("unicode_escape").decode("ascii").replace("\\n", "\n"))
    return Syntax(json.dumps(parsed, indent=2, ensure_ascii=False), "json", word_wrap=True)


def hexdump(data: bytes, width: int = 16) -> str:
    lines = []
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        ascii_ = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<{width * 3}} {ascii_}")
    return "\n".join(lines)


def chain_view(row: DeadLetter, chain: list[DeadLetter]) -> Group | Text:
    if len(chain) <= 1:
        return Text("replay chain: this message has not been replayed into a new failure")
    lines = [Text("replay chain (first failure first):", style="bold")]
    for link in chain:
        marker = "→" if link.id == row.id else " "
        origin = f" from #{link.replayed_from}" if link.replayed_from else ""
        lines.append(
            Text(f" {marker} #{link.id}{origin}  {link.status:<9} ")
            + Text(f"{_plain(link.created_at)}  {link.error_type}")
        )
    return Group(*lines)


def _shorten(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
