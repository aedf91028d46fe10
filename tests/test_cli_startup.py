"""The CLI imports a subcommand only when it runs, and its --help still tells the truth."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from workerkit.cli import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
@pytest.mark.parametrize("limit", [30, 45, 74, 200])
def test_each_listed_summary_is_what_the_command_itself_would_show(name: str, limit: int) -> None:
    ctx = click.Context(cli)
    command = cli.get_command(ctx, name)
    assert command is not None and command.name == name
    listed = click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)
    assert listed == command.get_short_help_str(limit)


def test_an_unknown_command_is_a_usage_error_with_the_list() -> None:
    result = CliRunner().invoke(cli, ["swtiches"])
    assert result.exit_code == 2
    assert "No such command 'swtiches'" in result.output


def imported_after(*argv: str) -> set[str]:
    script = (
        "import sys\n"
        "from workerkit.cli import cli\n"
        "try:\n"
        f"    cli.main({list(argv)!r}, prog_name='workerkit')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES', *sorted(sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    [line] = [line for line in out.splitlines() if line.startswith("MODULES ")]
    return set(line.split()[1:])


def test_switch_commands_do_not_load_the_database_stack() -> None:
    loaded = imported_after("switches", "--help")
    assert {"workerkit.cli.switches", "kazoo"} <= loaded
    assert not {"alembic", "sqlalchemy", "workerkit.cli.dead_letters"} & loaded


def test_the_top_level_help_loads_no_subcommand() -> None:
    loaded = imported_after("--help")
    modules = {path.partition(":")[0] for path, _ in COMMANDS.values()}
    assert not modules & loaded
    assert not {"alembic", "sqlalchemy"} & loaded
