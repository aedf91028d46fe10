"""``workerkit db``: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.group("db")
def db() -> None:
    """Not built yet."""
