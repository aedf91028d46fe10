"""The registry: settings per name, overrides before first use, snapshots and listeners."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from breaker_support import FakeClock, fail, ok

from workerkit.breakers import BreakerRegistry, Fallback, Mode, Override, State, StateChange
from workerkit.config import BreakerSettings, Settings
from workerkit.errors import ConfigError


def make_registry(clock: FakeClock, **settings: object) -> BreakerRegistry:
    return BreakerRegistry(
        BreakerSettings(minimum_calls=2, **settings),  # type: ignore[arg-type]
        clock=clock.monotonic,
        wall_clock=clock.time,
    )


def trip(registry: BreakerRegistry, name: str) -> None:
    breaker = registry.get(name)
    for _ in range(2):
        with pytest.raises(Exception, match="down"):
            breaker.call(fail)


def test_one_breaker_per_name_built_from_defaults_and_its_overrides(clock: FakeClock) -> None:
    registry = make_registry(clock, overrides={"tms-api": {"wait_in_open": 5, "window_size": 20}})
    tms = registry.get("tms-api")
    assert registry.get("tms-api") is tms
    assert (tms.settings.wait_in_open, tms.settings.window_size) == (5, 20)
    assert tms.settings.minimum_calls == 2
    assert registry.get("billing").settings.wait_in_open == 30.0


def test_an_unknown_override_key_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"breakers\.overrides\.tms-api\.windw_size: unknown key"):
        BreakerSettings(overrides={"tms-api": {"windw_size": 20}})


def test_an_unknown_override_key_stops_loading_the_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "workerkit.toml"
    config.write_text("[breakers.overrides.tms-api]\nwait_in_opn = 5\n")
    with pytest.raises(ConfigError, match="wait_in_opn"):
        Settings.load(config, env={})


def test_a_bad_override_value_is_a_config_error_at_registry_creation() -> None:
    settings = BreakerSettings(overrides={"tms-api": {"half_open_calls": 0}})
    with pytest.raises(ConfigError, match=r"breakers\.overrides\.tms-api"):
        BreakerRegistry(settings)


def test_register_sets_code_options_once(clock: FakeClock) -> None:
    registry = make_registry(clock)
    tms = registry.register("tms-api", fallback=Fallback.returning("cached"), ignore=(KeyError,))
    assert registry.get("tms-api") is tms
    assert tms.call(fail) == "cached"
    with pytest.raises(ConfigError, match="already registered"):
        registry.register("tms-api")


def test_register_configures_a_breaker_a_consumer_already_asked_for(clock: FakeClock) -> None:
    registry = make_registry(clock)
    early = registry.get("tms-api")  # e.g. a consumer's pause_when_open, at import time
    tms = registry.register("tms-api", fallback=Fallback.returning("cached"))
    assert tms is early
    assert tms.call(fail) == "cached"


def test_the_snapshot_lists_every_breaker_with_its_state_and_counts(clock: FakeClock) -> None:
    registry = make_registry(clock)
    registry.get("billing").call(ok)
    trip(registry, "tms-api")
    registry.apply_override("billing", Override(Mode.FORCE_CLOSED, reason="false alarm"))
    billing, tms = registry.snapshot()
    assert (billing.name, billing.state, billing.mode, billing.reason, billing.calls) == (
        "billing",
        State.FORCED_CLOSED,
        Mode.FORCE_CLOSED,
        "false alarm",
        1,
    )
    assert (tms.name, tms.state, tms.failure_rate) == ("tms-api", State.OPEN, 100.0)


def test_a_status_becomes_plain_json_data(clock: FakeClock) -> None:
    registry = make_registry(clock)
    until = datetime(2030, 1, 1, tzinfo=UTC)
    registry.get("tms-api").set_override("force_open", until=until, reason="outage", by="ana")
    (status,) = registry.snapshot()
    data = status.as_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["state"] == "forced_open"
    assert (data["mode"], data["until"], data["by"]) == ("force_open", until.isoformat(), "ana")


def test_an_override_for_a_breaker_not_yet_created_applies_when_it_is(clock: FakeClock) -> None:
    registry = make_registry(clock)
    registry.apply_override("tms-api", Override(Mode.FORCE_OPEN))
    assert "tms-api" not in registry.names()
    assert registry.register("tms-api").state is State.FORCED_OPEN


def test_a_listener_may_look_breakers_up_while_a_pending_override_is_applied(
    clock: FakeClock,
) -> None:
    registry = make_registry(clock)
    registry.apply_override("tms-api", Override(Mode.FORCE_OPEN))
    looked_up = []
    registry.add_listener(lambda event: looked_up.append(registry.get(event.name)))
    tms = registry.get("tms-api")
    assert looked_up == [tms]


def test_listeners_receive_every_state_change_with_its_numbers(clock: FakeClock) -> None:
    registry = make_registry(clock, half_open_calls=1)
    events: list[StateChange] = []
    registry.add_listener(events.append)
    trip(registry, "tms-api")
    clock.advance(30)
    registry.refresh()
    registry.get("tms-api").call(ok)
    registry.apply_override("tms-api", Override(Mode.FORCE_OPEN, reason="outage", by="ana"))

    assert [(e.from_state, e.to_state) for e in events] == [
        (State.CLOSED, State.OPEN),
        (State.OPEN, State.HALF_OPEN),
        (State.HALF_OPEN, State.CLOSED),
        (State.CLOSED, State.FORCED_OPEN),
    ]
    opened, _, closed, forced = events
    assert (opened.name, opened.failure_rate, opened.slow_rate) == ("tms-api", 100.0, 0.0)
    assert opened.reason == "failure rate 100.0% >= 50.0% over 2 calls"
    assert closed.reason == "probes: 1 of 1 succeeded, 0 failed, 0 slow"
    assert forced.reason == "force open by ana: outage"
    assert opened.at.timestamp() == clock.wall - 30


def test_every_transition_is_logged_and_refusing_ones_at_warning(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    registry = make_registry(clock, half_open_calls=1)
    with caplog.at_level(logging.INFO, logger="workerkit.breakers"):
        trip(registry, "tms-api")
        clock.advance(30)
        registry.get("tms-api").call(ok)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert lines == [
        (
            logging.WARNING,
            "breaker tms-api: closed -> open (failure rate 100.0% >= 50.0% over 2 calls)",
        ),
        (logging.INFO, "breaker tms-api: open -> half_open (waited 30.0s in open)"),
        (
            logging.INFO,
            "breaker tms-api: half_open -> closed (probes: 1 of 1 succeeded, 0 failed, 0 slow)",
        ),
    ]


def test_a_failing_listener_is_logged_loudly_and_never_breaks_a_call(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    registry = make_registry(clock)
    seen: list[StateChange] = []

    def broken(event: StateChange) -> None:
        raise RuntimeError("slack is down")

    registry.add_listener(broken)
    registry.add_listener(seen.append)
    with caplog.at_level(logging.CRITICAL, logger="workerkit.breakers"):
        trip(registry, "tms-api")
    assert [e.to_state for e in seen] == [State.OPEN]
    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "slack is down" in caplog.text


def test_is_open_covers_tripped_and_forced_but_not_half_open(clock: FakeClock) -> None:
    registry = make_registry(clock)
    assert not registry.is_open("tms-api")
    trip(registry, "tms-api")
    assert registry.is_open("tms-api")
    clock.advance(30)
    assert not registry.is_open("tms-api")  # half-open: probes may go
    registry.apply_override("tms-api", Override(Mode.FORCE_OPEN))
    assert registry.is_open("tms-api")
