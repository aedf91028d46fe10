"""Mistakes are caught when the code is loaded, with the key or option named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

import workerkit
from workerkit import App, ConfigError, ConsumerDefinitionError, Settings
from workerkit.errors import InvalidMessage
from workerkit.message import parse_retry_count


def app() -> App:
    return App("t", settings=Settings())


def test_an_unknown_consumer_option_is_named_with_a_suggestion() -> None:
    with pytest.raises(
        ConsumerDefinitionError, match="'max_attempt' is unknown; did you mean 'max_attempts'"
    ):
        app().consumer("orders", max_attempt=3)(lambda m: None)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"concurrency": 5, "max_concurrency": 10}, "'concurrency'"),
        ({"min_concurrency": 30, "max_concurrency": 10}, "'min_concurrency'"),
        ({"queue_type": "stream"}, "'queue_type'"),
        ({"routing_key": "a.b"}, "'routing_key'"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"retry_on": ["ValueError"]}, "'retry_on'"),
        ({"concurrency": 0}, "'concurrency'"),
    ],
)
def test_contradictory_or_invalid_options_are_named(options: dict, named: str) -> None:
    with pytest.raises(ConsumerDefinitionError, match=named):
        app().consumer("orders", **options)(lambda m: None)


@pytest.mark.parametrize("queue", ["", "amq.foo", "has space", "orders.retriable", "orders.dead"])
def test_invalid_or_reserved_queue_names_are_refused(queue: str) -> None:
    with pytest.raises(ConsumerDefinitionError, match="queue"):
        app().consumer(queue)(lambda m: None)


def test_a_handler_with_the_wrong_arity_is_refused() -> None:
    with pytest.raises(ConsumerDefinitionError, match="must take"):
        app().consumer("orders")(lambda a, b, c: None)


def test_a_second_consumer_for_the_same_queue_is_refused() -> None:
    a = app()
    a.consumer("orders")(lambda m: None)
    with pytest.raises(ConsumerDefinitionError, match="already has a consumer"):
        a.consumer("orders")(lambda m: None)


class Order(BaseModel):
    id: int


def test_a_pydantic_annotation_makes_the_handler_receive_the_model() -> None:
    a = app()

    @a.consumer("orders")
    async def handle(order: Order, ctx: object) -> None: ...

    assert a.consumers["orders"].model is Order
    assert a.consumers["orders"].takes_context


def test_unknown_keys_in_the_config_file_are_named(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[worker]\ngrace_period = 3\ngrace_periods = 4\n[broker]\nurl = "amqp://u:pw@h/"\n'
    )
    with pytest.raises(ConfigError, match=r"worker\.grace_periods: unknown key"):
        Settings.load(path, env={})


def test_environment_overrides_beat_the_file_and_secrets_stay_masked(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[broker]\nurl = "amqp://u:filepw@h/"\n[alerts]\nslack_webhook_url = "https://hooks/x"\n'
    )
    s = Settings.load(path, env={"WORKERKIT_BROKER_URL": "amqp://u:envpw@h2/"})
    assert s.broker.url.get_secret_value() == "amqp://u:envpw@h2/"
    shown = repr(s) + str(s.broker.url) + str(s.describe())
    assert "envpw" not in shown and "hooks/x" not in shown
    assert "amqp://u:***@h2/" in str(s.broker.url)


def test_an_unknown_section_in_the_environment_is_an_error() -> None:
    with pytest.raises(ConfigError, match="WORKERKIT_BROKR_URL"):
        Settings.load(env={"WORKERKIT_BROKR_URL": "x"})


def test_a_bad_value_names_the_key_and_hides_secret_values() -> None:
    with pytest.raises(ConfigError) as err:
        Settings.load(
            env={"WORKERKIT_ZOOKEEPER_ROOT": "relative", "WORKERKIT_RETRIES_DELAYS": "[0]"}
        )
    assert "zookeeper.root" in str(err.value) and "retries.delays" in str(err.value)


def test_the_default_config_file_is_valid_and_documents_every_setting() -> None:
    path = Path(__file__).resolve().parents[1] / "config" / "default.toml"
    settings = Settings.load(path, env={})
    text = path.read_text()
    # each section's own text, so that "port" is not found inside "import_interval"
    sections = dict(re.findall(r"^\[(\w+)\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S))
    for section in Settings.model_fields:
        assert section in sections, section
        for key in type(getattr(settings, section)).model_fields:
            assert re.search(rf"^#?\s*{re.escape(key)}\s*=", sections[section], re.M), (
                f"{section}.{key} is not documented in config/default.toml"
            )


@pytest.mark.parametrize("value", [-1, "abc", 10**30, 1.5, True, b"\xff"])
def test_bad_retry_counts_make_a_message_invalid(value: object) -> None:
    with pytest.raises(InvalidMessage):
        parse_retry_count({"x-retry-count": value})


def test_retry_counts_absent_or_numeric_text_are_read() -> None:
    assert parse_retry_count(None) == 0
    assert parse_retry_count({"x-retry-count": 3}) == 3
    assert parse_retry_count({"x-retry-count": "2"}) == 2


def test_the_public_api_is_exactly_what_all_lists() -> None:
    import types

    public = {
        n
        for n in dir(workerkit)
        if not n.startswith("_")
        and not isinstance(getattr(workerkit, n), types.ModuleType)
        and n != "annotations"
    }
    assert public == set(workerkit.__all__)
