"""``workerkit publish QUEUE``: confirmed publishing for operators and demos."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterable

import click
from rich.progress import Progress

from workerkit.cli import exitcodes
from workerkit.cli.common import err_console, fail, handle_errors, settings_from
from workerkit.config import Settings
from workerkit.errors import PublishError


def _parse(text: str, where: str) -> bytes:
    try:
        json.loads(text)
    except ValueError as exc:
        fail(f"{where} is not valid JSON ({exc}); nothing was published", exitcodes.RET_USAGE)
    return text.encode()


async def _send(
    settings: Settings,
    queue: str,
    exchange: str,
    bodies: list[bytes],
    headers: dict[str, str],
    sent: list[int],
) -> None:
    """Publishes in order; ``sent[0]`` counts the confirmed ones, also when one fails."""
    from workerkit.app import App

    app = App("workerkit-cli", settings=settings)
    try:
        with Progress(console=err_console, transient=True, disable=len(bodies) < 50) as bar:
            task = bar.add_task("publishing", total=len(bodies))
            for raw in bodies:
                await app.publish(
                    queue, raw, exchange=exchange, headers=headers, content_type="application/json"
                )
                sent[0] += 1
                bar.advance(task)
    finally:
        await app.close()


@click.command("publish")
@click.argument("queue")
@click.option("--body", help="One JSON message.")
@click.option(
    "--file",
    "file_",
    type=click.File("r"),
    help="A JSON file, or - for stdin with one JSON message per line.",
)
@click.option("--exchange", default="", help="Exchange (default: the default exchange).")
@click.option("--header", "headers", multiple=True, help="KEY=VALUE header (repeatable).")
@click.pass_context
@handle_errors
def publish(
    ctx: click.Context,
    queue: str,
    body: str | None,
    file_: Iterable[str] | None,
    exchange: str,
    headers: tuple[str, ...],
) -> None:
    """Publish JSON messages to QUEUE (the routing key) and wait for the broker's confirms."""
    if (body is None) == (file_ is None):
        fail("give exactly one of --body or --file", exitcodes.RET_USAGE)
    parsed_headers: dict[str, str] = {}
    for h in headers:
        key, sep, value = h.partition("=")
        if not sep or not key:
            fail(f"--header {h!r} is not KEY=VALUE", exitcodes.RET_USAGE)
        parsed_headers[key] = value
    if body is not None:
        bodies = [_parse(body, "--body")]
    else:
        assert file_ is not None
        text = file_.read()  # type: ignore[attr-defined]
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:
            json.loads(text)
            bodies = [text.strip().encode()]
        except ValueError:
            bodies = [_parse(ln, f"line {i}") for i, ln in enumerate(lines, 1)]
    sent = [0]
    try:
        asyncio.run(_send(settings_from(ctx), queue, exchange, bodies, parsed_headers, sent))
    except PublishError as exc:
        # the messages before the failing one are on the broker: say where to resume
        fail(f"{exc}; {sent[0]} of {len(bodies)} published before it", exitcodes.RET_BROKER)
    click.echo(f"published {sent[0]} message(s) to {queue}", file=sys.stderr)
