"""``workerkit run module:app``: one worker process for every (or the chosen) queue."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys

import click

from workerkit.app import App
from workerkit.cli import exitcodes
from workerkit.cli.common import fail, handle_errors, settings_from
from workerkit.config import CONFIG_ENV
from workerkit.errors import ConfigError
from workerkit.observability import close_middleware, configure_logging, default_middleware
from workerkit.worker.runner import run_worker


def load_app(target: str) -> App:
    module_name, _, attr = target.partition(":")
    attr = attr or "app"
    if "" not in sys.path:
        sys.path.insert(0, "")  # like python -m: the current folder is importable
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r}: {exc}") from None
    app = getattr(module, attr, None)
    if not isinstance(app, App):
        raise ConfigError(f"{target!r}: {module_name}.{attr} is not a workerkit App")
    return app


@click.command("run")
@click.argument("target")
@click.option("--queue", "-q", "queues", multiple=True, help="Run only this queue (repeatable).")
@click.pass_context
@handle_errors
def run(ctx: click.Context, target: str, queues: tuple[str, ...]) -> None:
    """Run the consumers of TARGET (``package.module:app``) until SIGTERM or SIGINT."""
    config_path = ctx.find_root().params.get("config_path")
    if config_path:  # the app module reads it when it builds its App
        os.environ[CONFIG_ENV] = str(config_path)
    settings = settings_from(ctx)
    configure_logging(settings)
    app = load_app(target)
    if not app.consumers:
        fail(f"{target} has no consumers", exitcodes.RET_CONFIG)
    chain = default_middleware(app.settings)
    for middleware in chain:
        app.add_middleware(middleware)
    try:
        code = asyncio.run(run_worker(app, list(queues) or None))
    finally:
        close_middleware(chain, timeout=2.0)
    sys.exit(code)
