"""What every subcommand shares: loading settings and turning known errors into exit codes."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.text import Text

from workerkit.cli import exitcodes
from workerkit.config import Settings
from workerkit.errors import (
    BrokerUnavailable,
    ConfigError,
    DatabaseUnavailable,
    ZooKeeperUnavailable,
)
from workerkit.zk.errors import ConcurrentEdit, InvalidDocument, NodeMissing, NotAuthorised

F = TypeVar("F", bound=Callable[..., Any])

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class CliState:
    """Settings are loaded lazily so that ``--help`` works with a broken config."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.load(self.config_path)
        return self._settings


def settings_from(ctx: click.Context) -> Settings:
    state = ctx.find_object(CliState)
    if state is None:  # a subcommand invoked on its own, e.g. in tests
        state = CliState(None)
    return state.settings


def fail(message: str, code: int) -> NoReturn:
    err_console.print(Text.assemble(("error: ", "bold red"), message))
    sys.exit(code)


def confirm_or_abort(question: str, refused: str, yes: bool) -> None:
    """Go on after ``--yes`` or an interactive yes; anything else exits RET_ABORTED."""
    if yes:
        return
    try:
        agreed = click.confirm(question, default=False, err=True)
    except click.Abort:
        agreed = False
    if not agreed:
        fail(f"nothing done: {refused} not confirmed (pass --yes)", exitcodes.RET_ABORTED)


#: every known failure and its exit code; the first matching entry wins
_KNOWN: list[tuple[type[BaseException], int]] = [
    (ConfigError, exitcodes.RET_CONFIG),
    (BrokerUnavailable, exitcodes.RET_BROKER),
    (DatabaseUnavailable, exitcodes.RET_DATABASE),
    (ZooKeeperUnavailable, exitcodes.RET_ZOOKEEPER),
    # ZooKeeper answered "no" (the admin CLIs)
    (ConcurrentEdit, exitcodes.RET_CONFLICT),
    (NotAuthorised, exitcodes.RET_NOT_AUTHORISED),
    (NodeMissing, exitcodes.RET_NOT_FOUND),
    (InvalidDocument, exitcodes.RET_USAGE),
]


def handle_errors(fn: F) -> F:
    """Known failures (outages, bad config, ZooKeeper's refusals) become one clear line and a
    named exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except tuple(t for t, _ in _KNOWN) as exc:
            code = next(c for t, c in _KNOWN if isinstance(exc, t))
            fail(str(exc), code)

    return wrapper  # type: ignore[return-value]
