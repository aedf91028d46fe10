"""``workerkit run``: placeholder until the foundation lands."""

from __future__ import annotations

import click


@click.command("run")
def run() -> None:
    """Not built yet."""
