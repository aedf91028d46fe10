"""``workerkit`` command line. The library never imports this package."""

from __future__ import annotations

import click

from workerkit.cli.breakers import breakers
from workerkit.cli.common import CliState
from workerkit.cli.db import db
from workerkit.cli.dead_letters import dead_letters
from workerkit.cli.publish import publish
from workerkit.cli.run import run
from workerkit.cli.switches import switches
from workerkit.cli.workers import workers


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="WORKERKIT_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML settings file (default: $WORKERKIT_CONFIG, else built-in defaults).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """workerkit: reliable task workers on RabbitMQ."""
    ctx.obj = CliState(config_path)


for command in (run, publish, db, dead_letters, switches, breakers, workers):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="workerkit")


__all__ = ["cli", "main"]
