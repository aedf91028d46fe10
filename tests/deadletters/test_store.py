"""The store on SQLite and PostgreSQL: exact rows, filters, groups, chains and status changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from tests.deadletters.conftest import SAMPLE_HEADERS
from workerkit.deadletters.codec import decode_headers
from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.record import DeadLetterRecord
from workerkit.deadletters.store import DeadLetterStore
from workerkit.errors import DatabaseUnavailable

pytestmark = pytest.mark.integration
Make = Callable[..., DeadLetterRecord]


def test_a_stored_row_keeps_the_exact_body_headers_and_aware_times(
    store: DeadLetterStore, make_record: Make
) -> None:
    record = make_record(body=b"\x00\xff\x10 not json")
    row = store.get(store.add(record))

    assert row is not None
    assert row.body == record.body
    assert decode_headers(row.headers) == SAMPLE_HEADERS
    assert decode_headers(row.properties) == record.properties
    assert row.first_failed_at == record.first_failed_at
    assert row.last_failed_at.tzinfo is not None and row.created_at.tzinfo is not None
    assert (row.status, row.replay_count, row.edited) == ("dead", 0, False)
    assert row.history == record.history


def test_text_longer_than_its_column_is_cut_to_fit_instead_of_refusing_the_row(
    store: DeadLetterStore, make_record: Make
) -> None:
    record = make_record(
        message_id="m" * 400,
        trace_id="t" * 300,
        error_type="E" * 300,
        fault_location="f" * 600,
        content_type="c" * 300,
    )
    row = store.get(store.add(record))
    (many,) = store.add_many([record])

    assert row is not None and store.get(many) is not None
    assert row.message_id == "m" * 255 and row.trace_id == "t" * 255
    assert row.error_type == "E" * 255 and row.fault_location == "f" * 512
    assert row.content_type == "c" * 255


def test_add_many_returns_ids_in_the_order_given(store: DeadLetterStore, make_record: Make) -> None:
    records = [make_record(consumer=f"c{n}") for n in range(30)]

    ids = store.add_many(records)

    assert [store.get(i).consumer for i in ids] == [f"c{n}" for n in range(30)]  # type: ignore[union-attr]


def test_filters_narrow_the_list_which_is_newest_first(
    store: DeadLetterStore, make_record: Make
) -> None:
    a = store.add(make_record(queue="orders", error_message="100% broken_here"))
    b = store.add(make_record(queue="billing", consumer="charge", error_type="ValueError"))
    c = store.add(make_record(queue="orders", reason="invalid", error_message="bad json"))

    def ids(**kw: object) -> list[int]:
        return [r.id for r in store.rows(DeadLetterFilter(**kw))]  # type: ignore[arg-type]

    assert ids() == [c, b, a]
    assert ids(queue="orders") == [c, a]
    assert ids(consumer="charge") == [b]
    assert ids(error_type="ValueError") == [b]
    assert ids(reason="invalid") == [c]
    assert ids(search="100%") == [a]
    assert ids(search="BROKEN_") == [a]
    assert ids(search="1_0") == []
    assert ids(limit=2) == [c, b]
    assert ids(since=datetime.now(UTC) - timedelta(minutes=1)) == [c, b, a]
    assert ids(until=datetime.now(UTC) - timedelta(minutes=1)) == []
    assert ids(statuses=["discarded"]) == []
    assert store.count(DeadLetterFilter(queue="orders")) == 2


def test_groups_count_failures_by_fingerprint_with_their_queues(
    store: DeadLetterStore, make_record: Make
) -> None:
    store.add_many([make_record(queue=q) for q in ("orders", "orders", "returns")])
    last = store.add(make_record(fingerprint="ffffeeeeddddcccc", error_type="ValueError"))

    groups = store.groups(DeadLetterFilter())

    assert [(g.fingerprint, g.count, g.queues) for g in groups] == [
        ("0123456789abcdef", 3, ["orders", "returns"]),
        ("ffffeeeeddddcccc", 1, ["orders"]),
    ]
    assert groups[1].sample_id == last and groups[1].error_type == "ValueError"
    assert groups[0].first_seen <= groups[0].last_seen


def test_the_replay_chain_links_every_failure_of_one_message(
    store: DeadLetterStore, make_record: Make
) -> None:
    first = store.add(make_record())
    second = store.add(make_record(replayed_from=first))
    third = store.add(make_record(replayed_from=second))
    store.add(make_record())

    assert [r.id for r in store.chain(second)] == [first, second, third]
    assert store.chain(999_999) == []


def test_a_replayed_message_whose_source_row_was_purged_is_still_stored(
    store: DeadLetterStore, make_record: Make
) -> None:
    gone = store.add(make_record())
    store.purge(DeadLetterFilter(ids=[gone]))

    row = store.get(store.add(make_record(replayed_from=gone)))

    assert row is not None and row.replayed_from is None


def test_only_one_claim_wins_and_a_released_claim_can_be_taken_again(
    store: DeadLetterStore, make_record: Make
) -> None:
    ids = store.add_many([make_record() for _ in range(3)])

    assert [r.id for r in store.claim(ids, "ann")] == ids
    assert store.claim(ids, "ben") == []
    assert store.release(ids[:1]) == 1
    assert [r.id for r in store.claim(ids, "ben")] == ids[:1]
    assert store.mark_replayed(ids, "ann") == 3
    assert {store.get(i).status for i in ids} == {"replayed"}  # type: ignore[union-attr]
    assert store.mark_replayed(ids, "ann") == 0


def test_discard_keeps_the_row_and_restore_brings_it_back(
    store: DeadLetterStore, make_record: Make
) -> None:
    row_id = store.add(make_record())

    assert store.discard([row_id], "ann", "known bad data") == 1
    row = store.get(row_id)
    assert row is not None
    assert (row.status, row.discarded_by, row.discard_reason) == (
        "discarded",
        "ann",
        "known bad data",
    )
    assert store.discard([row_id], "ann", None) == 0
    assert store.restore([row_id]) == 1
    row = store.get(row_id)
    assert row is not None and row.status == "dead" and row.discarded_at is None


def test_restore_frees_a_claim_abandoned_by_a_crashed_replay_only_once_it_is_stale(
    store: DeadLetterStore, make_record: Make
) -> None:
    fresh, stale = store.add_many([make_record(), make_record()])
    store.claim([fresh], "crashed", now=datetime.now(UTC))
    store.claim([stale], "crashed", now=datetime.now(UTC) - timedelta(hours=1))

    assert store.restore([fresh, stale]) == 1
    assert store.get(stale).status == "dead"  # type: ignore[union-attr]
    assert store.get(fresh).status == "replaying"  # type: ignore[union-attr]


def test_purge_deletes_only_old_rows_of_the_given_statuses(
    store: DeadLetterStore, make_record: Make
) -> None:
    old_replayed, old_dead, new_replayed = store.add_many([make_record() for _ in range(3)])
    store.claim([old_replayed, new_replayed], "ann")
    store.mark_replayed([old_replayed, new_replayed], "ann")
    with store.engine.begin() as conn:
        conn.execute(
            update(DeadLetter)
            .where(DeadLetter.id.in_([old_replayed, old_dead]))
            .values(created_at=datetime.now(UTC) - timedelta(days=40))
        )

    cutoff = datetime.now(UTC) - timedelta(days=30)
    deleted = store.purge(DeadLetterFilter(statuses=["replayed", "discarded"], until=cutoff))

    assert deleted == 1
    assert store.get(old_replayed) is None
    assert store.get(old_dead) is not None and store.get(new_replayed) is not None


def test_stats_count_by_queue_status_and_reason(store: DeadLetterStore, make_record: Make) -> None:
    ids = store.add_many([make_record(queue="a"), make_record(queue="b", reason="invalid")])
    store.discard(ids[:1], "ann", None)

    stats = store.stats(DeadLetterFilter())

    assert stats["total"] == 2
    assert stats["by_queue"] == {"a": 1, "b": 1}
    assert stats["by_status"] == {"dead": 1, "discarded": 1}
    assert stats["by_reason"] == {"exhausted": 1, "invalid": 1}
    assert stats["by_queue_status"] == {"a": {"discarded": 1}, "b": {"dead": 1}}


def test_iter_rows_pages_through_every_row_oldest_first(
    store: DeadLetterStore, make_record: Make
) -> None:
    ids = store.add_many([make_record() for _ in range(7)])

    assert [r.id for r in store.iter_rows(DeadLetterFilter(), batch=3)] == ids


def test_twenty_threads_adding_at_once_store_every_row(
    store: DeadLetterStore, make_record: Make
) -> None:
    ids: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            row_id = store.add(make_record())
            with lock:
                ids.append(row_id)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert len(set(ids)) == 200 == store.count(DeadLetterFilter())


def test_an_unreachable_database_raises_one_error_naming_it_with_the_password_masked(
    make_record: Make,
) -> None:
    store = DeadLetterStore(
        "postgresql+psycopg2://app:hunter2@127.0.0.1:1/deadletters", pool_size=1, retry_for=0.5
    )
    started = time.monotonic()
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            store.add(make_record())
        with pytest.raises(DatabaseUnavailable):
            store.check()
    finally:
        store.close()

    message = str(caught.value)
    assert "hunter2" not in message
    assert "app:***@127.0.0.1:1" in message and "\n" not in message
    assert time.monotonic() - started < 10
