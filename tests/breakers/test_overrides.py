"""Operator overrides: parsing the ZooKeeper document, forcing, and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from breaker_support import WALL_START, Boom, FakeClock, MakeBreaker, ok, run_calls

from workerkit.breakers import Mode, Override, State, parse_override
from workerkit.errors import BreakerOpen, InvalidOverride

NOW = datetime.fromtimestamp(WALL_START, UTC)


def test_a_full_override_document_is_parsed() -> None:
    override = parse_override(
        b'{"mode": "force_open", "until": "2026-11-22T04:00:00Z", "reason": "TMS outage", '
        b'"by": "ana"}'
    )
    assert override == Override(
        Mode.FORCE_OPEN, datetime(2026, 11, 22, 4, tzinfo=UTC), "TMS outage", "ana"
    )


def test_an_empty_node_means_auto() -> None:
    assert parse_override(b"") == Override(Mode.AUTO)
    assert parse_override(b'{"mode": "auto", "until": null}').mode is Mode.AUTO


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"{not json", "not valid JSON"),
        (b'["force_open"]', "must be a JSON object"),
        (b'{"mode": "open"}', "mode must be one of"),
        (b"{}", "mode must be one of"),
        (b'{"mode": ["force_open"]}', "mode must be one of"),
        (b'{"mode": "force_open", "untill": null}', "unknown field(s) untill"),
        (b'{"mode": "force_open", "until": "tomorrow"}', "is not ISO 8601"),
        (b'{"mode": "force_open", "until": "2026-11-22T04:00:00"}', "has no timezone"),
        (b'{"mode": "force_open", "until": 1800000000}', "ISO 8601 string or null"),
        (b'{"mode": "force_open", "reason": 42}', "reason must be a string"),
        (b'{"mode": "force_open", "by": ["ana"]}', "by must be a string"),
        (b'{"mode": "auto", "until": "2026-11-22T04:00:00Z"}', "until only applies"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_override_documents_are_refused_with_the_reason(data: bytes, complaint: str) -> None:
    with pytest.raises(InvalidOverride, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        parse_override(data)


def test_a_refused_override_is_a_value_error_so_a_watched_cache_keeps_the_last_good_one() -> None:
    from workerkit.breakers.override import override_from_json

    with pytest.raises(ValueError, match="mode must be one of"):
        override_from_json({"mode": "sideways"})


def test_forced_open_refuses_every_call_whatever_the_counts(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker()
    breaker.set_override("force_open", reason="TMS outage", by="ana")
    assert breaker.state is State.FORCED_OPEN
    assert breaker.is_open
    with pytest.raises(BreakerOpen, match="forced_open"):
        breaker.call(ok)


def test_forced_closed_lets_every_call_through_and_keeps_counting(
    make_breaker: MakeBreaker,
) -> None:
    breaker = make_breaker()
    breaker.set_override(Mode.FORCE_CLOSED)
    run_calls(breaker, "ffffffff")
    assert breaker.state is State.FORCED_CLOSED
    status = breaker.status()
    assert (status.calls, status.failure_rate, status.mode) == (8, 100.0, Mode.FORCE_CLOSED)


def test_forcing_closed_a_tripped_breaker_resets_it_to_closed(
    make_breaker: MakeBreaker,
) -> None:
    breaker = make_breaker()
    run_calls(breaker, "ffff")
    breaker.set_override("force_closed")
    assert breaker.call(ok) == "ok"
    breaker.set_override("auto")
    assert breaker.state is State.CLOSED


def test_leaving_forced_open_probes_before_closing(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(half_open_calls=1)
    breaker.set_override("force_open")
    breaker.set_override("auto", reason="TMS is back")
    assert breaker.state is State.HALF_OPEN
    assert breaker.call(ok) == "ok"
    assert breaker.state is State.CLOSED


def test_an_override_returns_to_auto_when_its_until_passes(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker()
    breaker.set_override("force_open", until=NOW + timedelta(minutes=10))
    clock.advance(599)
    assert breaker.state is State.FORCED_OPEN
    assert breaker.next_transition_in() == pytest.approx(1.0)
    clock.advance(1)
    assert breaker.state is State.HALF_OPEN
    assert breaker.override is None


def test_an_expired_forced_closed_is_noticed_by_the_next_call(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker()
    breaker.set_override("force_closed", until=NOW + timedelta(seconds=5))
    clock.advance(6)
    run_calls(breaker, "ffff")  # the first call ends the override; these then count
    assert breaker.state is State.OPEN


def test_an_override_already_expired_when_applied_is_ignored(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker()
    breaker.apply_override(Override(Mode.FORCE_OPEN, until=NOW - timedelta(seconds=1)))
    assert breaker.state is State.CLOSED
    assert breaker.call(ok) == "ok"


def test_an_override_without_a_timezone_or_with_a_bad_mode_is_refused(
    make_breaker: MakeBreaker,
) -> None:
    breaker = make_breaker()
    with pytest.raises(InvalidOverride, match="timezone"):
        breaker.set_override("force_open", until=datetime(2030, 1, 1))
    with pytest.raises(InvalidOverride, match="mode must be one of"):
        breaker.set_override("open")


def test_the_override_is_described_for_logs_and_events() -> None:
    override = parse_override(
        b'{"mode": "force_open", "until": "2026-11-22T04:00:00+00:00", "reason": "outage", '
        b'"by": "ana"}'
    )
    assert override.describe() == "force open by ana until 2026-11-22T04:00:00+00:00: outage"


def test_the_same_override_applied_again_leaves_calls_in_flight_counted(
    make_breaker: MakeBreaker,
) -> None:
    breaker = make_breaker(minimum_calls=1)
    with pytest.raises(Boom), breaker:
        breaker.set_override("auto")  # e.g. a ZooKeeper watch firing after a reconnect
        raise Boom("down")
    assert breaker.state is State.OPEN
