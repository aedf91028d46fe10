"""``workerkit publish``: placeholder until the foundation lands."""

from __future__ import annotations

import click


@click.command("publish")
def publish() -> None:
    """Not built yet."""
