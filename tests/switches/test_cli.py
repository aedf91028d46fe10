"""``workerkit switches ...`` through click's CliRunner (the subprocess runs are elsewhere)."""

from __future__ import annotations

import functools
import json
import re

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def run(zk_cli, zk_admin):
    """``workerkit switches ...`` as an operator holding the admin digest."""
    return functools.partial(zk_cli, "switches")


def test_on_off_and_set_write_the_switch_and_get_shows_it_as_json(run):
    assert run("on", "checkout", "--reason", "launch", "--by", "alice").exit_code == 0
    result = run(
        "set", "checkout", "--percent", "25", "--value", '{"limit": 3}', "--reason", "ramp"
    )
    assert result.exit_code == 0, result.output
    assert "percent 25.0" in result.output
    node = json.loads(run("get", "checkout", "--json").stdout)
    assert node["data"]["on"] is True
    assert node["data"]["percent"] == 25 and node["data"]["value"] == {"limit": 3}
    assert node["data"]["updated_by"]  # the OS user when --by is not given
    assert run("off", "checkout", "--reason", "incident").exit_code == 0
    assert json.loads(run("get", "checkout", "--json").stdout)["data"]["on"] is False


def test_list_shows_every_switch_as_a_table_or_as_json(run):
    run("on", "a", "--reason", "r")
    run("off", "b", "--reason", "r")
    table = run("list")
    assert table.exit_code == 0, table.output
    assert re.search(r"^\W*a\W+on\W", table.stdout, re.M), table.stdout
    assert re.search(r"^\W*b\W+off\W", table.stdout, re.M), table.stdout
    names = [(n["name"], n["data"]["on"]) for n in json.loads(run("list", "--json").stdout)]
    assert names == [("a", True), ("b", False)]


def test_history_lists_who_changed_what_and_why(run):
    run("on", "a", "--reason", "launch", "--by", "alice")
    run("off", "a", "--reason", "incident 42", "--by", "bob")
    entries = json.loads(run("history", "a", "--json").stdout)
    assert [(e["by"], e["action"], e["reason"]) for e in entries] == [
        ("alice", "create", "launch"),
        ("bob", "update", "incident 42"),
    ]
    assert "incident 42" in run("history").stdout


def test_writes_require_a_reason(run):
    result = run("on", "a")
    assert result.exit_code == 2 and "--reason" in result.output


def test_without_the_admin_digest_a_write_is_refused_as_not_authorised(run):
    result = run("on", "a", "--reason", "r", digest=None)
    assert result.exit_code == 9
    assert "not authorised" in result.stderr


def test_the_admin_digest_is_never_printed(run, admin_digest):
    secret = admin_digest.split(":", 1)[1]
    outputs = [
        run("on", "a", "--reason", "r"),
        run("list"),
        run("history", "--json"),
        run("on", "a", "--reason", "r", digest="admin:wrong-" + secret),
        run("list", hosts="127.0.0.1:9"),
    ]
    for result in outputs:
        assert secret not in result.output and secret not in result.stderr


def test_delete_asks_first_and_can_be_dry_run(run):
    run("on", "old", "--reason", "r")
    dry = run("delete", "old", "--reason", "cleanup", "--dry-run")
    assert dry.exit_code == 0 and "would delete" in dry.stdout
    declined = run("delete", "old", "--reason", "cleanup", input="n\n")
    assert declined.exit_code == 10
    assert run("get", "old").exit_code == 0
    assert run("delete", "old", "--reason", "cleanup", input="y\n").exit_code == 0
    missing = run("get", "old")
    assert missing.exit_code == 7 and "default in their code" in missing.stderr


def test_a_bad_value_or_an_empty_set_is_a_usage_error(run):
    assert run("set", "a", "--value", "{nope", "--reason", "r").exit_code == 2
    assert run("set", "a", "--reason", "r").exit_code == 2
    assert run("set", "a", "--percent", "120", "--reason", "r").exit_code == 2


def test_zookeeper_unreachable_is_one_line_naming_the_address_and_the_fix(run):
    result = run("list", hosts="127.0.0.1:9")
    assert result.exit_code == 6
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "127.0.0.1:9" in lines[0] and "bash scripts/services.sh" in lines[0]


def test_list_marks_a_malformed_switch_and_on_repairs_it(run, zk_admin, zk_root):
    run("on", "broken", "--reason", "r")
    zk_admin.writer.client.set(f"{zk_root}/switches/broken", b"{not json")
    assert "malformed" in run("list").stdout
    refused = run("set", "broken", "--percent", "5", "--reason", "r")
    assert refused.exit_code == 2 and "invalid document" in refused.stderr
    assert run("off", "broken", "--reason", "repair").exit_code == 0
    assert json.loads(run("get", "broken", "--json").stdout)["data"]["on"] is False


def test_clearing_a_rollout_makes_on_mean_on_for_everyone(run):
    run("set", "ramp", "--percent", "10", "--reason", "start small")
    assert run("set", "ramp", "--clear-percent", "--reason", "full").exit_code == 0
    assert "percent" not in json.loads(run("get", "ramp", "--json").stdout)["data"]


@pytest.mark.parametrize("name", ["a/b", "..", "", "_x", "x" * 129, "ünïcode"])
def test_a_name_that_is_not_one_plain_path_segment_is_refused(run, name):
    result = run("on", name, "--reason", "r")
    assert result.exit_code == 2
    assert "invalid switch name" in result.stderr
