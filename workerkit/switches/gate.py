"""SwitchGate: run a consumer only while its switch is on.

The worker binds a consumer to a switch (``@app.consumer(..., switch="orders-notifier")``)
by handing the gate two coroutines: ``resume`` starts consuming the queue, ``pause`` cancels
the consumer (messages wait in the queue; handlers already running finish). The gate calls
them on the event loop, one at a time, and always converges on the latest state: a quick
off-on-off while a ``pause`` is still running ends paused, with no interleaved calls and no
call for a state that is already applied. It knows nothing about aio-pika, so the worker
keeps full control of how a consumer starts and stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from workerkit.switches.manager import SwitchManager

log = logging.getLogger(__name__)
Action = Callable[[], Awaitable[object]]
#: seconds before a failed pause or resume is tried again (a reconnect is usually under way)
RETRY_DELAY = 1.0


class SwitchGate:
    """Calls ``resume()`` while ``name`` is on and ``pause()`` once it is off."""

    def __init__(
        self,
        switches: SwitchManager,
        name: str,
        *,
        pause: Action,
        resume: Action,
        default: bool = True,
    ) -> None:
        self.switches, self.name, self.default = switches, name, default
        self._pause, self._resume = pause, resume
        self._wanted: bool | None = None
        # the consumer starts paused: start() resumes it if on. None: unknown, after an action
        # failed half-way, so the next pass calls an action whatever the switch says
        self._applied: bool | None = False
        self._runner: asyncio.Task[None] | None = None
        self._remove: Callable[[], None] | None = None

    @property
    def is_open(self) -> bool:
        """Whether ``resume`` is the last action that completed."""
        return self._applied is True

    async def start(self) -> None:
        """Follow the switch from now on; the current state is applied right after."""
        loop = asyncio.get_running_loop()
        self._remove = self.switches.follow(self.name, self._want, default=self.default, loop=loop)

    async def stop(self) -> None:
        """Stop following; an action in progress finishes, the consumer is left as it is."""
        if self._remove is not None:
            self._remove()
            self._remove = None
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)

    def _want(self, on: bool) -> None:
        if self._remove is None:  # a flip delivered after stop()
            return
        self._wanted = on
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._converge())

    async def _converge(self) -> None:
        while self._wanted is not None and self._wanted != self._applied:
            target = self._wanted
            action = self._resume if target else self._pause
            try:
                await action()
            except Exception:
                # the consumer may have changed half-way: do not trust the old state, and try
                # again without waiting for a flip that may never come
                self._applied = None
                log.exception(
                    "could not %s the consumer of switch %s; trying again in %g s",
                    "resume" if target else "pause",
                    self.name,
                    RETRY_DELAY,
                )
                await asyncio.sleep(RETRY_DELAY)
                if self._remove is None:
                    return
                continue
            self._applied = target
            state = "on: consumer resumed" if target else "off: consumer paused"
            log.info("switch %s is %s", self.name, state)
