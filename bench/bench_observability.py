"""Cost per message of each observability middleware's hooks, on the event loop's side.

Not a timed test: the numbers belong to the machine. From the repository root:

    PYTHONPATH=$PWD python bench/bench_observability.py [--messages 20000] [--rounds 7]

Each candidate runs ``before_process_message`` and ``after_process_message`` once per
message, in turns, round after round, keeping its best round. Slack's sender thread and
Sentry's transport point at a closed local port, so what is measured is the hook, which is
all a handler slot waits for; the posts happen elsewhere and may fail.
"""

from __future__ import annotations

import argparse
import socket
import time

from workerkit.config import AlertSettings, Secret, SentrySettings, Settings
from workerkit.context import Context
from workerkit.message import Message
from workerkit.middleware import Middleware
from workerkit.observability import (
    PrometheusMiddleware,
    SentryMiddleware,
    SlackAlertMiddleware,
    TracingMiddleware,
)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def context(n: int) -> Context:
    message = Message({}, b"{}", {}, f"m-{n}", "application/json", "orders", "", 0, f"t-{n}")
    return Context(message, queue="orders", consumer="handle", publisher=None)


def one_round(mw: Middleware, outcome: str, contexts: list[Context]) -> float:
    error = ValueError("bad date") if outcome != "ok" else None
    start = time.perf_counter_ns()
    for ctx in contexts:
        mw.before_process_message(ctx)
        mw.after_process_message(ctx, outcome=outcome, exception=error, duration=0.01)
    return (time.perf_counter_ns() - start) / len(contexts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    port = closed_port()
    settings = Settings(
        alerts=AlertSettings(slack_webhook_url=Secret(f"http://127.0.0.1:{port}/hook")),
        sentry=SentrySettings(dsn=Secret(f"http://key@127.0.0.1:{port}/1")),
    )
    sentry = SentryMiddleware(settings)
    slack = SlackAlertMiddleware(settings)
    candidates: dict[str, tuple[Middleware, str]] = {
        "bare Middleware": (Middleware(), "ok"),
        "tracing": (TracingMiddleware(), "ok"),
        "metrics": (PrometheusMiddleware(), "ok"),
        "slack, dead letter": (slack, "dead"),
        "sentry, success": (sentry, "ok"),
    }
    contexts = [context(n) for n in range(args.messages)]
    best: dict[str, float] = dict.fromkeys(candidates, float("inf"))
    for _ in range(args.rounds):
        for name, (mw, outcome) in candidates.items():
            best[name] = min(best[name], one_round(mw, outcome, contexts))
    # a Sentry capture builds a whole event; measure it on fewer messages
    best["sentry, dead letter"] = min(one_round(sentry, "dead", contexts[:500]) for _ in range(3))
    slack.close(0.5)
    sentry.close(0.5)
    for name, ns in best.items():
        print(f"{name:22} {ns / 1000:8.2f} µs per message")


if __name__ == "__main__":
    main()
