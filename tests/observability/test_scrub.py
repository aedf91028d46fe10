"""Secrets are removed from text and event data by value, by pattern and by key."""

from __future__ import annotations

from workerkit.config import (
    AlertSettings,
    BrokerSettings,
    DeadLetterSettings,
    Secret,
    SecretUrl,
    SentrySettings,
    Settings,
    ZooKeeperSettings,
)
from workerkit.observability.scrub import FILTERED, Scrubber, configured_secrets


def test_every_configured_secret_is_found_in_free_text() -> None:
    settings = Settings(
        broker=BrokerSettings(url=SecretUrl("amqp://app:amqp-pw-123@mq.internal:5672/")),
        deadletters=DeadLetterSettings(database_url=SecretUrl("postgresql://u:pg-pw-456@db/x")),
        alerts=AlertSettings(slack_webhook_url=Secret("https://example.org/hook/abcdef123")),
        sentry=SentrySettings(dsn=Secret("https://publickey789@o1.ingest.sentry.io/5")),
        zookeeper=ZooKeeperSettings(admin_digest=Secret("admin:zk-pw-000")),
    )
    scrub = Scrubber(configured_secrets(settings))
    text = scrub.text(
        "pw amqp-pw-123, db pg-pw-456, hook https://example.org/hook/abcdef123, "
        "dsn key publickey789, digest zk-pw-000"
    )
    for secret in ("amqp-pw-123", "pg-pw-456", "abcdef123", "publickey789", "zk-pw-000"):
        assert secret not in text
    assert text.count(FILTERED) == 5


def test_short_default_passwords_do_not_shred_ordinary_words() -> None:
    scrub = Scrubber(configured_secrets(Settings()))  # amqp://guest:guest@...
    assert scrub.text("the guest list") == "the guest list"


def test_passwords_in_any_url_and_slack_webhooks_are_filtered_without_being_configured() -> None:
    scrub = Scrubber()
    text = scrub.text(
        "redis://:hunter22@cache:6379/0 and amqp://bob:pa55@mq/ via "
        "https://hooks.slack.com/services/T1/B2/xyz"
    )
    assert text == (
        f"redis://:{FILTERED}@cache:6379/0 and amqp://bob:{FILTERED}@mq/ via {FILTERED}"
    )


def test_values_under_secret_keys_are_replaced_and_other_data_is_kept() -> None:
    scrub = Scrubber()
    data = {
        "vars": {"api_token": "abc", "password": "p", "routing_key": "orders", "count": 3},
        "headers": [{"Authorization": "Bearer x", "x-trace-id": "t1"}],
        "client_secret": None,
    }
    assert scrub.data(data) == {
        "vars": {"api_token": FILTERED, "password": FILTERED, "routing_key": "orders", "count": 3},
        "headers": [{"Authorization": FILTERED, "x-trace-id": "t1"}],
        "client_secret": None,
    }


def test_servers_in_configured_urls_stay_readable() -> None:
    settings = Settings(
        broker=BrokerSettings(url=SecretUrl("amqp://app:amqp-pw-123@mq.internal:5672/")),
        deadletters=DeadLetterSettings(database_url=SecretUrl("sqlite:///var/dead.sqlite3")),
    )
    scrub = Scrubber(configured_secrets(settings))
    assert scrub.text(
        "amqp://app:amqp-pw-123@mq.internal:5672/ and sqlite:///var/dead.sqlite3"
    ) == (f"amqp://app:{FILTERED}@mq.internal:5672/ and sqlite:///var/dead.sqlite3")
