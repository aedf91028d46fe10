"""``workerkit switches``: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.group("switches")
def switches() -> None:
    """Not built yet."""
