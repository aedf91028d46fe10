"""``workerkit dead-letters`` and ``workerkit db`` through click's runner, on both databases."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from aio_pika.abc import AbstractIncomingMessage
from click.testing import CliRunner, Result

from tests.deadletters.amqp_helpers import drain
from workerkit.cli import cli, exitcodes
from workerkit.deadletters.record import DeadLetterRecord
from workerkit.deadletters.store import DeadLetterStore

pytestmark = pytest.mark.integration
Make = Callable[..., DeadLetterRecord]


@pytest.fixture
def run(migrated_url: str, amqp_url: str) -> Callable[..., Result]:
    def invoke(*args: str, input: str | None = None, **env: str) -> Result:
        environment = {
            "WORKERKIT_CONFIG": "",
            "WORKERKIT_DEADLETTERS_DATABASE_URL": migrated_url,
            "WORKERKIT_BROKER_URL": amqp_url,
            **env,
        }
        return CliRunner().invoke(cli, list(args), input=input, env=environment)

    return invoke


def taken(amqp_url: str, queue: str, expected: int) -> list[AbstractIncomingMessage]:
    return asyncio.run(drain(amqp_url, queue, expected))


def test_list_json_parses_and_honours_the_filters(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    store.add(make_record(queue="orders"))
    billing = store.add(make_record(queue="billing"))

    result = run("dead-letters", "list", "--queue", "billing", "--since", "1h", "--json")

    assert result.exit_code == 0, result.output
    assert [row["id"] for row in json.loads(result.stdout)] == [billing]


def test_list_shows_a_table_and_says_when_nothing_matches(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    store.add(make_record(error_type="builtins.KeyError"))

    assert "KeyError" in run("dead-letters", "list").stdout
    assert "no dead letters match" in run("dead-letters", "list", "--queue", "nope").stdout


def test_an_unparsable_duration_is_a_usage_error_not_a_traceback(
    run: Callable[..., Result],
) -> None:
    result = run("dead-letters", "list", "--since", "2 fortnights")

    assert result.exit_code == exitcodes.RET_USAGE
    assert "neither a duration" in result.output and "Traceback" not in result.output


def test_show_prints_headers_history_body_and_the_replay_chain(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    first = store.add(make_record())
    second = store.add(make_record(replayed_from=first, body=b"\xff\x00\x01 binary"))

    result = run("dead-letters", "show", str(second))

    assert result.exit_code == 0, result.output
    for expected in ("x-trace-id", "Decimal('12.50')", "history", "KeyError", "ff 00 01"):
        assert expected in result.stdout
    assert f"#{first}" in result.stdout and f"#{second} from #{first}" in result.stdout
    shown = json.loads(run("dead-letters", "show", str(second), "--json").stdout)
    assert base64.b64decode(shown["body"]) == b"\xff\x00\x01 binary"
    assert shown["chain"] == [first, second]


def test_show_pretty_prints_a_json_body(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    row_id = store.add(make_record(body=b'{"order":42,"items":[1,2]}'))

    assert '"order": 42' in run("dead-letters", "show", str(row_id)).stdout


def test_an_unknown_id_is_named_with_the_not_found_exit_code(run: Callable[..., Result]) -> None:
    result = run("dead-letters", "show", "424242")

    assert result.exit_code == exitcodes.RET_NOT_FOUND
    assert "no dead letter with id 424242" in result.stderr


def test_groups_json_lists_each_fingerprint(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    store.add_many([make_record(), make_record(fingerprint="aaaaaaaaaaaaaaaa")])

    groups = json.loads(run("dead-letters", "groups", "--json").stdout)

    assert sorted(g["fingerprint"] for g in groups) == ["0123456789abcdef", "aaaaaaaaaaaaaaaa"]


def test_dry_run_replay_publishes_nothing_and_changes_nothing(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make, amqp_url: str, queue: str
) -> None:
    ids = store.add_many([make_record(routing_key=queue) for _ in range(3)])

    result = run("dead-letters", "replay", "--queue", "orders", "--dry-run")

    assert result.exit_code == 0, result.output
    assert "3 dead letters would be replayed" in result.stdout
    assert taken(amqp_url, queue, 0) == []
    assert {store.get(i).status for i in ids} == {"dead"}  # type: ignore[union-attr]


def test_replay_by_filter_sends_every_row_and_marks_them_replayed_by_the_operator(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make, amqp_url: str, queue: str
) -> None:
    ids = store.add_many([make_record(routing_key=queue, body=b"%d" % n) for n in range(5)])
    store.add(make_record(queue="other", routing_key=queue))

    result = run(
        "dead-letters", "replay", "--queue", "orders", "--yes", "--by", "ops-ann", "--rate", "500"
    )

    assert result.exit_code == 0, result.output
    assert "replayed 5" in result.stdout
    bodies = sorted(m.body for m in taken(amqp_url, queue, 5))
    assert bodies == [b"%d" % n for n in range(5)]
    rows = [store.get(i) for i in ids]
    assert [(r.status, r.replayed_by) for r in rows if r] == [("replayed", "ops-ann")] * 5


def test_replaying_several_rows_asks_first_and_a_no_changes_nothing(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make, amqp_url: str, queue: str
) -> None:
    ids = store.add_many([make_record(routing_key=queue) for _ in range(2)])

    result = run("dead-letters", "replay", *map(str, ids), input="n\n")

    assert result.exit_code == exitcodes.RET_ABORTED
    assert "Replay 2 dead letters?" in result.output
    assert taken(amqp_url, queue, 0) == []


def test_replaying_a_row_that_is_no_longer_dead_is_a_conflict(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make, amqp_url: str, queue: str
) -> None:
    row_id = store.add(make_record(routing_key=queue))
    assert run("dead-letters", "replay", str(row_id)).exit_code == 0

    again = run("dead-letters", "replay", str(row_id))

    assert again.exit_code == exitcodes.RET_CONFLICT
    assert f"#{row_id} is replayed" in again.stderr
    assert len(taken(amqp_url, queue, 1)) == 1


def test_a_replay_filter_that_matches_nothing_is_not_found(run: Callable[..., Result]) -> None:
    result = run("dead-letters", "replay", "--queue", "no-such-queue", "--yes")

    assert result.exit_code == exitcodes.RET_NOT_FOUND
    assert "no dead letters with status dead match" in result.stderr


def test_replay_by_group_sends_only_that_fingerprint(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make, amqp_url: str, queue: str
) -> None:
    wanted = store.add_many([make_record(routing_key=queue, fingerprint="feedfacefeedface")] * 2)
    other = store.add(make_record(routing_key=queue))

    result = run("dead-letters", "replay", "--group", "feedfacefeedface", "--yes", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"replayed": list(wanted), "skipped": [], "failed": {}}
    assert len(taken(amqp_url, queue, 2)) == 2
    assert [store.get(i).status for i in (*wanted, other)] == ["replayed", "replayed", "dead"]  # type: ignore[union-attr]


def test_restore_frees_a_row_left_replaying_by_a_crashed_replay(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    row_id = store.add(make_record())
    store.claim([row_id], "crashed", now=datetime.now(UTC) - timedelta(hours=1))

    result = run("dead-letters", "restore", "--status", "replaying")

    assert result.exit_code == 0, result.output
    assert store.get(row_id).status == "dead"  # type: ignore[union-attr]


def test_replay_without_any_selection_asks_for_one(run: Callable[..., Result]) -> None:
    result = run("dead-letters", "replay", "--yes")

    assert result.exit_code == exitcodes.RET_USAGE
    assert "say which dead letters" in result.stderr


def test_replay_with_an_edited_body_validates_json_and_records_the_edit(
    run: Callable[..., Result],
    store: DeadLetterStore,
    make_record: Make,
    amqp_url: str,
    queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row_id = store.add(make_record(routing_key=queue))
    monkeypatch.setattr(click, "edit", lambda *a, **k: '{"order": "broken"')
    bad = run("dead-letters", "replay", str(row_id), "--edit")
    assert bad.exit_code == exitcodes.RET_USAGE and "not valid JSON" in bad.stderr

    monkeypatch.setattr(click, "edit", lambda *a, **k: '{"order": 43}')
    good = run("dead-letters", "replay", str(row_id), "--edit")

    assert good.exit_code == 0, good.output
    (message,) = taken(amqp_url, queue, 1)
    assert message.body == b'{"order": 43}'
    row = store.get(row_id)
    assert row is not None and row.edited and row.body == make_record().body


def test_an_unreachable_broker_is_one_line_with_the_password_masked(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    row_id = store.add(make_record())

    result = run(
        "dead-letters",
        "replay",
        str(row_id),
        WORKERKIT_BROKER_URL="amqp://ops:t0psecret@127.0.0.1:1/",
    )

    assert result.exit_code == exitcodes.RET_BROKER
    assert "t0psecret" not in result.output and "ops:***@127.0.0.1:1" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert store.get(row_id).status == "dead"  # type: ignore[union-attr]


def test_an_unreachable_database_is_one_line_with_the_password_masked(
    run: Callable[..., Result],
) -> None:
    bad_url = "postgresql+psycopg2://ops:t0psecret@127.0.0.1:1/dead"

    for args in (("dead-letters", "list"), ("db", "current"), ("db", "upgrade")):
        result = run(*args, WORKERKIT_DEADLETTERS_DATABASE_URL=bad_url)
        assert result.exit_code == exitcodes.RET_DATABASE, result.output
        assert "t0psecret" not in result.output and "ops:***@127.0.0.1:1" in result.stderr
        assert result.stderr.strip().count("\n") == 0


def test_discard_restore_and_purge_do_what_they_say(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    keep, drop = store.add_many([make_record(), make_record(queue="noise")])

    assert run("dead-letters", "discard", "--queue", "noise", "--dry-run").exit_code == 0
    assert store.get(drop).status == "dead"  # type: ignore[union-attr]
    discarded = run("dead-letters", "discard", str(drop), "--reason", "test noise", "--by", "ann")
    assert discarded.exit_code == 0, discarded.output
    row = store.get(drop)
    assert row is not None and (row.status, row.discard_reason, row.discarded_by) == (
        "discarded",
        "test noise",
        "ann",
    )
    assert run("dead-letters", "restore", str(drop)).exit_code == 0
    assert store.get(drop).status == "dead"  # type: ignore[union-attr]

    run("dead-letters", "discard", str(drop))
    assert (
        "0 dead letters would be deleted"
        in run("dead-letters", "purge", "--older-than", "1d").stdout
    )
    dry = run("dead-letters", "purge", "--older-than", "0s", "--dry-run")
    assert "dry run: 1 dead letters would be deleted" in dry.stdout
    purged = run("dead-letters", "purge", "--older-than", "0s", "--yes")
    assert purged.exit_code == 0 and "deleted 1" in purged.stdout
    assert store.get(drop) is None and store.get(keep) is not None


def test_export_writes_json_lines_with_base64_bodies(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    store.add_many([make_record(body=b"\xff\x00"), make_record()])

    lines = [json.loads(line) for line in run("dead-letters", "export").stdout.splitlines()]

    assert len(lines) == 2
    assert base64.b64decode(lines[0]["body"]) == b"\xff\x00"
    assert lines[0]["headers"]["raw"] == {"$bytearray": base64.b64encode(b"\x00\xffbytes").decode()}


def test_export_to_a_file_says_how_many_rows_it_wrote(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make, tmp_path: Path
) -> None:
    store.add_many([make_record(), make_record(queue="other")])
    target = tmp_path / "dead.jsonl"

    result = run("dead-letters", "export", "--queue", "other", "-o", str(target))

    assert result.exit_code == 0 and "exported 1 dead letters" in result.stderr
    assert [json.loads(line)["queue"] for line in target.read_text().splitlines()] == ["other"]


def test_stats_json_counts_by_queue_status_and_reason(
    run: Callable[..., Result], store: DeadLetterStore, make_record: Make
) -> None:
    store.add_many([make_record(), make_record(queue="b", reason="invalid")])

    stats: dict[str, Any] = json.loads(run("dead-letters", "stats", "--json").stdout)

    assert stats["total"] == 2 and stats["by_reason"] == {"exhausted": 1, "invalid": 1}


def test_db_current_reports_the_head_revision(run: Callable[..., Result]) -> None:
    result = run("db", "current")

    assert result.exit_code == 0 and "up to date" in result.stdout
