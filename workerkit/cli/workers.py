"""``workerkit workers``: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.group("workers")
def workers() -> None:
    """Not built yet."""
