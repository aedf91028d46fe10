"""``workerkit`` command line. The library never imports this package.

Subcommands are imported when they run, not when the CLI starts: ``workerkit switches set``
during an incident should not first load Alembic and the dead-letter tables. ``--help``
lists them from the summaries below without importing them; a test keeps each summary equal
to its command's own.
"""

from __future__ import annotations

import importlib

import click

from workerkit.cli.common import CliState

#: name -> (module:attribute, first paragraph of its help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": (
        "workerkit.cli.run:run",
        "Run the consumers of TARGET (``package.module:app``) until SIGTERM or SIGINT.",
    ),
    "publish": (
        "workerkit.cli.publish:publish",
        "Publish JSON messages to QUEUE (the routing key) and wait for the broker's confirms.",
    ),
    "db": ("workerkit.cli.db:db", "Create, upgrade and inspect the dead-letter database schema."),
    "dead-letters": (
        "workerkit.cli.dead_letters:dead_letters",
        "Inspect, replay and discard messages that failed for good.",
    ),
    "switches": (
        "workerkit.cli.switches:switches",
        "Feature switches in ZooKeeper: every worker follows them within about a second.",
    ),
    "breakers": (
        "workerkit.cli.breakers:breakers",
        "Circuit breakers: force one open or closed for every worker, and see each one's state.",
    ),
    "workers": (
        "workerkit.cli.workers:workers",
        "Live worker processes, as they announce themselves in ZooKeeper.",
    ),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self.commands:
            module, _, attribute = COMMANDS[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return self.commands[cmd_name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [
            (name, click.Command(name, help=summary).get_short_help_str(limit))
            for name, (_, summary) in sorted(COMMANDS.items())
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def main() -> None:
    cli(prog_name="workerkit")


__all__ = ["cli", "main"]
