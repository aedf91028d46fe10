"""Who may write switches, the audit trail every write leaves, and refused concurrent edits."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import Permissions

from workerkit.switches.admin import SwitchAdmin
from workerkit.zk import ConcurrentEdit, NotAuthorised, ZkClient

pytestmark = pytest.mark.integration


def test_a_client_without_the_admin_digest_cannot_change_or_add_a_switch(
    zookeeper_hosts, zk_root, zk_admin
):
    zk_admin.turn("payments", True, by="ops", reason="launch")
    path = f"{zk_root}/switches/payments"
    raw = KazooClient(hosts=zookeeper_hosts)
    raw.start(timeout=10)
    try:
        assert json.loads(raw.get(path)[0])["on"] is True  # workers can read
        with pytest.raises(NoAuthError):
            raw.set(path, b'{"on": false}')
        with pytest.raises(NoAuthError):
            raw.create(f"{zk_root}/switches/sneaky", b'{"on": true}')
        with pytest.raises(NoAuthError):
            raw.delete(path)
        acls, _ = raw.get_acls(path)
        assert {(a.id.scheme, a.perms) for a in acls} == {
            ("digest", Permissions.ALL),
            ("world", Permissions.READ),
        }
    finally:
        raw.stop()
        raw.close()


def test_our_client_without_the_digest_gets_a_clear_not_authorised_error(
    zookeeper_hosts, zk_root, zk_admin
):
    zk_admin.turn("payments", True, by="ops", reason="launch")
    worker = ZkClient(zookeeper_hosts)
    worker.start()
    try:
        with pytest.raises(NotAuthorised, match="not authorised"):
            SwitchAdmin(worker, zk_root).turn("payments", False, by="x", reason="y")
        with pytest.raises(NotAuthorised, match="admin_digest"):
            SwitchAdmin(worker, zk_root).turn("brand-new", True, by="x", reason="y")
    finally:
        worker.stop()


def test_a_wrong_digest_is_refused_like_a_missing_one(zookeeper_hosts, zk_root, zk_admin):
    zk_admin.turn("payments", True, by="ops", reason="launch")
    intruder = ZkClient(zookeeper_hosts, admin_digest="admin:guessed")
    intruder.start()
    try:
        with pytest.raises(NotAuthorised):
            SwitchAdmin(intruder, zk_root).turn("payments", False, by="x", reason="y")
    finally:
        intruder.stop()
    assert zk_admin.get("payments").data["on"] is True


def test_every_write_leaves_an_audit_entry_with_who_when_old_new_and_why(zk_admin):
    zk_admin.turn("search-v2", True, by="alice", reason="launch")
    zk_admin.update("search-v2", {"percent": 20}, by="bob", reason="ramp down")
    zk_admin.delete("search-v2", by="carol", reason="cleanup")
    entries = zk_admin.history("search-v2")
    assert [(e.action, e.by, e.reason) for e in entries] == [
        ("create", "alice", "launch"),
        ("update", "bob", "ramp down"),
        ("delete", "carol", "cleanup"),
    ]
    assert entries[0].old is None and entries[0].new["on"] is True
    assert entries[1].old["on"] is True and entries[1].new["percent"] == 20
    assert entries[2].old["percent"] == 20 and entries[2].new is None
    assert all(e.at.endswith("+00:00") for e in entries)


def test_a_second_edit_based_on_the_same_read_is_refused_and_leaves_no_audit_entry(zk_admin):
    zk_admin.turn("export", True, by="ops", reason="start")
    seen = zk_admin.get("export").version
    zk_admin.turn("export", False, by="alice", reason="incident", if_version=seen)
    with pytest.raises(ConcurrentEdit, match="changed it since you looked"):
        zk_admin.update("export", {"percent": 50}, by="bob", reason="ramp", if_version=seen)
    assert zk_admin.get("export").data["on"] is False
    assert [e.by for e in zk_admin.history("export")] == ["ops", "alice"]


def test_a_write_racing_between_read_and_commit_is_refused_by_zookeeper(zk_admin, monkeypatch):
    zk_admin.turn("race", True, by="ops", reason="start")
    real_read = zk_admin.writer.read

    def read_then_someone_else_writes(name):
        node = real_read(name)
        zk_admin.writer.write(
            name,
            {"on": False},
            version=node.version,
            by="alice",
            reason="won the race",
            old=node.data,
        )
        return node

    monkeypatch.setattr(zk_admin.writer, "read", read_then_someone_else_writes)
    with pytest.raises(ConcurrentEdit, match="switch 'race' was changed by someone else"):
        zk_admin.turn("race", True, by="bob", reason="lost the race")
    monkeypatch.undo()
    assert zk_admin.get("race").data == {"on": False}
    assert [e.by for e in zk_admin.history("race")] == ["ops", "alice"]


def test_two_creations_of_the_same_new_switch_refuse_the_second(zk_admin):
    zk_admin.writer.write("fresh", {"on": True}, version=None, by="alice", reason="r")
    with pytest.raises(ConcurrentEdit, match="switch 'fresh' was created by someone else"):
        zk_admin.writer.write("fresh", {"on": False}, version=None, by="bob", reason="r")


def test_debug_logging_of_kazoo_never_shows_the_admin_digest(zookeeper_hosts, caplog):
    secret = "s3cret-for-logs"
    with caplog.at_level(logging.DEBUG, logger="workerkit.zk.kazoo"):
        client = ZkClient(zookeeper_hosts, admin_digest=f"admin:{secret}")
        client.start()
        client.stop()
    assert "Auth(scheme='digest', auth='***')" in caplog.text  # the packet was logged...
    assert secret not in caplog.text  # ...without the password


def test_racing_editors_never_lose_an_update_and_every_success_is_audited(
    zookeeper_hosts, zk_root, zk_admin, admin_digest
):
    zk_admin.update("counter", {"value": 0}, by="setup", reason="start")
    refused = []
    together = threading.Barrier(4)

    def editor(who: str) -> int:
        client = ZkClient(zookeeper_hosts, admin_digest=admin_digest)
        client.start()
        admin, done = SwitchAdmin(client, zk_root), 0
        together.wait(10)  # start editing at the same moment, so edits collide
        try:
            while done < 10:
                node = admin.get("counter")
                try:
                    admin.update(
                        "counter",
                        {"value": node.data["value"] + 1},
                        by=who,
                        reason="increment",
                        if_version=node.version,
                    )
                    done += 1
                except ConcurrentEdit:
                    refused.append(who)
        finally:
            client.stop()
        return done

    with ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(editor, ["a", "b", "c", "d"])) == 40
    assert zk_admin.get("counter").data["value"] == 40  # no increment was overwritten
    assert len(zk_admin.history("counter", limit=1000)) == 41
    assert refused  # they really did collide


def test_the_first_admin_write_locks_every_admin_base_and_the_root(
    zookeeper_hosts, zk_root, zk_admin
):
    """A worker without the digest may have made the root first (open to all); the first
    switch write tightens it and makes the breaker bases too, so no other client can plant
    a breaker override before anyone ever forced a breaker."""
    raw = KazooClient(hosts=zookeeper_hosts)
    raw.start(timeout=10)
    try:
        raw.ensure_path(f"{zk_root}/workers")  # as a worker's presence does: open ACLs
        zk_admin.turn("payments", True, by="ops", reason="launch")
        for path in (f"{zk_root}/breakers/tms", f"{zk_root}/audit/breakers/tms"):
            with pytest.raises(NoAuthError):
                raw.create(path, b'{"mode": "force_open"}')
        with pytest.raises(NoAuthError):
            raw.set(zk_root, b"mine")
        raw.create(f"{zk_root}/workers/orders", b"")  # workers still announce themselves
    finally:
        raw.stop()
        raw.close()
