"""``workerkit breakers ...`` through click's CliRunner (the subprocess runs are elsewhere)."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.zk_support import wait_until
from workerkit.breakers import Mode, State
from workerkit.breakers.remote import presence_fields
from workerkit.zk.presence import Presence

pytestmark = pytest.mark.integration


@pytest.fixture
def run(zk_cli):
    """``workerkit breakers ...`` as an operator holding the admin digest."""
    return functools.partial(zk_cli, "breakers")


def test_force_open_writes_mode_reason_by_and_an_until_from_for(run):
    result = run("force-open", "tms-api", "--reason", "TMS outage", "--by", "ana", "--for", "10m")
    assert result.exit_code == 0, result.output
    assert "force open by ana until" in result.stdout
    shown = json.loads(run("show", "tms-api", "--json").stdout)
    assert shown["mode"] == "force_open"
    doc = shown["override"]
    assert (doc["reason"], doc["by"]) == ("TMS outage", "ana")
    left = datetime.fromisoformat(doc["until"]) - datetime.now(UTC)
    assert timedelta(minutes=9) < left <= timedelta(minutes=10)


def test_force_closed_and_auto_replace_the_override_and_history_tells_who_and_why(run):
    run("force-closed", "tms-api", "--reason", "flapping", "--by", "ana")
    assert json.loads(run("show", "tms-api", "--json").stdout)["mode"] == "force_closed"
    run("auto", "tms-api", "--reason", "fixed", "--by", "bo")
    shown = json.loads(run("show", "tms-api", "--json").stdout)
    assert shown["mode"] == "auto" and shown["override"]["by"] == "bo"
    entries = json.loads(run("history", "tms-api", "--json").stdout)
    assert [(e["by"], e["reason"], e["new"]["mode"]) for e in entries] == [
        ("ana", "flapping", "force_closed"),
        ("bo", "fixed", "auto"),
    ]
    assert "flapping" in run("history").stdout  # one word: the table may wrap phrases


def test_a_breaker_without_a_node_shows_as_auto(run):
    shown = run("show", "never-touched", "--json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["mode"] == "auto"
    assert run("list").stdout.strip() == "no overrides and no live workers"


def test_a_force_for_a_while_returns_every_worker_to_auto_when_it_ends(run, make_follower):
    breaker = make_follower().registry.get("tms-api")
    assert run("force-open", "tms-api", "--reason", "r", "--for", "2s").exit_code == 0
    wait_until(lambda: breaker.state is State.FORCED_OPEN, 2, "forced open")
    wait_until(lambda: breaker.status().mode is Mode.AUTO, 4, "back to auto")
    shown = json.loads(run("show", "tms-api", "--json").stdout)
    assert shown["mode"] == "auto" and shown["expired"] is True
    table = run("list").stdout
    assert "auto" in table and "(expired)" in table and "force_open" not in table


def test_list_and_show_put_each_live_workers_own_state_beside_the_override(
    run, make_follower, zookeeper_hosts, zk_root
):
    follower = make_follower()
    follower.registry.get("tms-api")
    follower.registry.get("geo-api")
    presence = Presence(
        follower.client, zk_root, ["orders", "invoices"], lambda: presence_fields(follower.registry)
    )
    presence.start()
    try:
        run("force-open", "tms-api", "--reason", "r")
        wait_until(lambda: follower.registry.get("tms-api").is_open, 2, "forced open")
        presence.refresh()
        rows = {r["name"]: r for r in json.loads(run("list", "--json").stdout)}
    finally:
        presence.stop()
    assert rows["geo-api"]["mode"] == "auto" and rows["geo-api"]["override"] is None
    tms = rows["tms-api"]
    assert tms["mode"] == "force_open"
    assert len(tms["workers"]) == 1  # one process, although it announces two queues
    assert tms["workers"][0]["worker"] == presence.worker_id
    assert tms["workers"][0]["state"] == "forced_open"
    assert [w["state"] for w in rows["geo-api"]["workers"]] == ["closed"]


def test_without_the_admin_digest_a_write_is_not_authorised(run):
    result = run("force-open", "tms-api", "--reason", "r", digest=None)
    assert result.exit_code == 9
    assert "not authorised" in result.stderr
    run("force-open", "tms-api", "--reason", "r")
    wrong = run("auto", "tms-api", "--reason", "r", digest="admin:guessed")
    assert wrong.exit_code == 9 and "not authorised" in wrong.stderr
    assert json.loads(run("show", "tms-api", "--json").stdout)["mode"] == "force_open"


def test_an_edit_based_on_a_version_someone_else_changed_is_refused(run):
    run("force-open", "tms-api", "--reason", "first")
    version = json.loads(run("show", "tms-api", "--json").stdout)["version"]
    assert run("auto", "tms-api", "--reason", "ana", "--if-version", str(version)).exit_code == 0
    late = run("force-closed", "tms-api", "--reason", "bo", "--if-version", str(version))
    assert late.exit_code == 8
    assert "changed it since you looked" in late.stderr
    assert json.loads(run("show", "tms-api", "--json").stdout)["mode"] == "auto"


def test_of_two_operators_editing_from_the_same_version_only_one_wins(run, breaker_admin):
    """Both read version 0; one write wins, the other is refused, and the audit agrees."""
    run("force-open", "tms-api", "--reason", "start")
    version = breaker_admin.get("tms-api").version
    results = [
        run(cmd, "tms-api", "--reason", who, "--if-version", str(version))
        for cmd, who in (("force-closed", "ana"), ("auto", "bo"))
    ]
    assert sorted(r.exit_code for r in results) == [0, 8]
    assert [e.reason for e in breaker_admin.history("tms-api")] == ["start", "ana"]


def test_the_admin_digest_is_never_printed(run, admin_digest):
    secret = admin_digest.split(":", 1)[1]
    outputs = [
        run("force-open", "a", "--reason", "r", "--json"),
        run("list"),
        run("history", "--json"),
        run("auto", "a", "--reason", "r", digest="admin:wrong-" + secret),
        run("list", hosts="127.0.0.1:9"),
    ]
    for result in outputs:
        assert secret not in result.output and secret not in result.stderr


def test_zookeeper_unreachable_is_one_line_and_exit_6(run):
    for args in (("list",), ("force-open", "a", "--reason", "r")):
        result = run(*args, hosts="127.0.0.1:9")
        assert result.exit_code == 6
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "127.0.0.1:9" in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("auto", "a", "--reason", "r", "--for", "5m"),
        ("force-open", "a", "--reason", "r", "--for", "10x"),
        ("force-open", "a", "--reason", "r", "--for", "0s"),
        ("force-open", "a", "--reason", "r", "--for", "99999999999d"),
        ("force-open", "a"),
        ("force-open", "not/a/name", "--reason", "r"),
    ],
)
def test_bad_arguments_are_usage_errors_and_write_nothing(run, args):
    assert run(*args).exit_code == 2
    assert json.loads(run("list", "--json").stdout) == []


def test_a_malformed_node_is_reported_and_a_write_repairs_it(run, breaker_admin, zk_root):
    run("force-open", "tms-api", "--reason", "r")
    breaker_admin.writer.client.set(f"{zk_root}/breakers/tms-api", b'{"mode": "open"}')
    shown = json.loads(run("show", "tms-api", "--json").stdout)
    assert shown["mode"] == "malformed" and "mode must be one of" in shown["problem"]
    assert "malformed" in run("list").stdout
    assert run("auto", "tms-api", "--reason", "repair").exit_code == 0
    assert json.loads(run("show", "tms-api", "--json").stdout)["mode"] == "auto"
