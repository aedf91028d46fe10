"""The disk snapshot (atomic, scoped to one ZooKeeper path, never fatal) and log hygiene."""

from __future__ import annotations

import logging

from workerkit.zk import SnapshotFile


def test_a_saved_snapshot_loads_back_with_values_and_mzxids(tmp_path):
    snap = SnapshotFile(tmp_path / "s.json", scope="/workerkit/switches")
    assert snap.save({"a": {"on": True}}, {"a": 12})
    loaded = snap.load()
    assert loaded is not None
    assert loaded.values == {"a": {"on": True}} and loaded.mzxids == {"a": 12}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temp file left behind


def test_a_snapshot_of_another_root_is_ignored_not_served(tmp_path, caplog):
    SnapshotFile(tmp_path / "s.json", scope="/staging/switches").save({"a": {"on": True}}, {})
    with caplog.at_level(logging.ERROR):
        assert SnapshotFile(tmp_path / "s.json", scope="/prod/switches").load() is None
    assert "/staging/switches" in caplog.text


def test_a_corrupt_or_missing_snapshot_means_code_defaults(tmp_path, caplog):
    path = tmp_path / "s.json"
    assert SnapshotFile(path, scope="/w/switches").load() is None
    path.write_text('{"format": 1, "nodes": {"a": ')
    with caplog.at_level(logging.ERROR):
        assert SnapshotFile(path, scope="/w/switches").load() is None
    assert "unreadable snapshot" in caplog.text


def test_queued_saves_collapse_to_the_latest_state(tmp_path):
    snap = SnapshotFile(tmp_path / "s.json", scope="/w/switches")
    for i in range(50):
        snap.save_soon({"n": {"on": True, "value": i}}, {"n": i})
    assert snap.flush(5)
    loaded = snap.load()
    assert loaded is not None and loaded.values["n"]["value"] == 49


def test_an_unwritable_location_is_logged_not_raised(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.ERROR):
        assert SnapshotFile(blocker / "s.json", scope="/w/switches").save({}, {}) is False
    assert "could not write snapshot" in caplog.text


def test_kazoos_repeated_reconnect_warnings_are_logged_once_a_minute():
    from workerkit.zk.logfilter import RepeatFilter

    noisy = RepeatFilter(every=60)

    def record(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord("kazoo", level, __file__, 1, msg, None, None)

    refused = "Connection dropped: socket connection error: Connection refused"
    assert [noisy.filter(record(refused)) for _ in range(5)] == [True, False, False, False, False]
    assert noisy.filter(record("Transition to CONNECTING")) is True
    assert noisy.filter(record(refused, logging.ERROR)) is True


def test_a_writer_that_fails_unexpectedly_does_not_block_flush_or_later_saves(tmp_path, caplog):
    snap = SnapshotFile(tmp_path / "s.json", scope="/w/switches")
    with caplog.at_level(logging.ERROR):
        snap.save_soon({"n": {"on": True, "value": object()}}, {"n": 1})  # not JSON
        assert snap.flush(5)
    assert "snapshot writer" in caplog.text
    snap.save_soon({"n": {"on": True, "value": 2}}, {"n": 2})
    assert snap.flush(5)
    loaded = snap.load()
    assert loaded is not None and loaded.values["n"]["value"] == 2
