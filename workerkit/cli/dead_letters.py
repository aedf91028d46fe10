"""``workerkit dead-letters``: placeholder until its issue lands."""

from __future__ import annotations

import click


@click.group("dead-letters")
def dead_letters() -> None:
    """Not built yet."""
