"""``workerkit breakers``: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.group("breakers")
def breakers() -> None:
    """Not built yet."""
