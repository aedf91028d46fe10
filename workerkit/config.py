"""Typed settings: one model per TOML section, read once and passed down explicitly.

Precedence is code default < TOML file < environment variable ``WORKERKIT_<SECTION>_<KEY>``.
Every section forbids unknown keys, so a typo is an error that names the key instead of a
setting that silently keeps its default. Secrets are :class:`Secret` / :class:`SecretUrl`
values whose ``repr`` and ``str`` never show the secret part.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from workerkit.errors import ConfigError
from workerkit.retries.policy import MAX_ATTEMPTS

ENV_PREFIX = "WORKERKIT_"
CONFIG_ENV = "WORKERKIT_CONFIG"


def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***`` (user and host stay readable)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


class Secret(SecretStr):
    """A secret string (webhook, DSN, digest): shown as ``**********`` everywhere."""


class SecretUrl(SecretStr):
    """A URL whose password is masked when shown; the rest stays readable for operators."""

    def _display(self) -> str:
        return mask_url(self.get_secret_value())


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class BrokerSettings(Section):
    url: SecretUrl = SecretUrl("amqp://guest:guest@127.0.0.1:5672/")
    connect_timeout: float = Field(5.0, gt=0)
    confirm_timeout: float = Field(10.0, gt=0)
    reconnect_max_delay: float = Field(15.0, gt=0)
    heartbeat: int = Field(30, ge=0)


class WorkerSettings(Section):
    grace_period: float = Field(30.0, ge=0)
    min_concurrency: int = Field(5, ge=1)
    max_concurrency: int = Field(20, ge=1)
    scale_interval: float = Field(0.2, gt=0)
    heartbeat_interval: float = Field(5.0, gt=0)


class RetrySettings(Section):
    max_attempts: int = Field(5, ge=1, le=MAX_ATTEMPTS)
    delays: list[float] = Field(default_factory=lambda: [1.0, 5.0, 30.0, 120.0])

    @field_validator("delays")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if not v or any(d <= 0 for d in v):
            raise ValueError("must be a non-empty list of positive seconds")
        return v


class DeadLetterSettings(Section):
    database_url: SecretUrl = SecretUrl("sqlite:///var/workerkit-dead-letters.sqlite3")
    import_interval: float = Field(10.0, gt=0)
    max_traceback_chars: int = Field(20_000, ge=100)


class ZooKeeperSettings(Section):
    hosts: str = "127.0.0.1:2181"
    root: str = "/workerkit"
    admin_digest: Secret | None = None
    snapshot_path: Path = Path("var/workerkit-switches.json")
    connect_timeout: float = Field(5.0, gt=0)
    max_reconnect_delay: float = Field(5.0, gt=0)
    session_timeout: float = Field(10.0, gt=0)

    @field_validator("root")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/") or (len(v) > 1 and v.endswith("/")):
            raise ValueError("must be an absolute ZooKeeper path like /workerkit")
        return v


class BreakerSettings(Section):
    """Defaults for every circuit breaker; ``overrides`` holds per-name tables.

    ``window_size`` counts calls for a ``count`` window and seconds for a ``time`` window.
    Overrides are checked when the settings are built, so a typo such as
    ``[breakers.overrides.tms-api] windw_size = 20`` stops start-up instead of being ignored.
    """

    window_type: Literal["count", "time"] = "count"
    window_size: int = Field(100, ge=1)
    minimum_calls: int = Field(10, ge=1)
    failure_rate_threshold: float = Field(50.0, gt=0, le=100)
    slow_call_duration: float = Field(5.0, gt=0)
    slow_call_rate_threshold: float = Field(100.0, gt=0, le=100)
    wait_in_open: float = Field(30.0, gt=0)
    half_open_calls: int = Field(3, ge=1)
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("overrides")
    @classmethod
    def _known_keys(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # ConfigError is not a ValueError, so pydantic lets it through with our wording.
        allowed = sorted(set(cls.model_fields) - {"overrides"})
        for name, table in v.items():
            for key in table:
                if key not in allowed:
                    raise ConfigError(
                        f"breakers.overrides.{name}.{key}: unknown key; "
                        f"expected one of {', '.join(allowed)}"
                    )
        return v

    def for_name(self, name: str) -> BreakerSettings:
        """The settings of breaker ``name``: these defaults with its override table on top."""
        table = self.overrides.get(name, {})
        base = self.model_dump(exclude={"overrides"})
        try:
            return BreakerSettings.model_validate({**base, **table})
        except ValidationError as exc:
            raise ConfigError(_describe(exc, f"breakers.overrides.{name}")) from None


class AlertSettings(Section):
    slack_webhook_url: Secret | None = None
    min_interval: float = Field(60.0, ge=0)
    timeout: float = Field(5.0, gt=0)


class SentrySettings(Section):
    dsn: Secret | None = None
    environment: str = "production"
    traces_sample_rate: float = Field(0.0, ge=0, le=1)
    #: outcomes reported: "dead" (also covers parked dead letters) and/or "retry"
    capture: tuple[Literal["dead", "retry"], ...] = ("dead",)


class MetricsSettings(Section):
    port: int | None = Field(None, ge=0, le=65535)
    #: the exporter listens on this address only; 0.0.0.0 exposes it to the network
    host: str = "127.0.0.1"


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Settings(Section):
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    retries: RetrySettings = Field(default_factory=RetrySettings)
    deadletters: DeadLetterSettings = Field(default_factory=DeadLetterSettings)
    zookeeper: ZooKeeperSettings = Field(default_factory=ZooKeeperSettings)
    breakers: BreakerSettings = Field(default_factory=BreakerSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    sentry: SentrySettings = Field(default_factory=SentrySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
    ) -> Settings:
        """Read ``path`` (or ``$WORKERKIT_CONFIG``), apply environment overrides, validate.

        Raises :class:`ConfigError` naming the file and key for every problem found.
        """
        env = os.environ if env is None else env
        path = path if path is not None else env.get(CONFIG_ENV) or None
        data: dict[str, Any] = {}
        source = "defaults"
        if path is not None:
            source = str(path)
            try:
                with open(path, "rb") as fh:
                    data = tomllib.load(fh)
            except FileNotFoundError:
                raise ConfigError(f"config file {path} does not exist") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        _apply_env(data, env)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, source)) from None

    def describe(self) -> dict[str, Any]:
        """Settings as plain data with every secret masked, for ``--show-config`` and logs."""
        data: dict[str, Any] = json.loads(self.model_dump_json())
        return data


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    sections = set(Settings.model_fields)
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV:
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if section not in sections or not key:
            raise ConfigError(
                f"environment variable {name}: unknown section {section!r}; "
                f"expected WORKERKIT_<SECTION>_<KEY> with SECTION one of {sorted(sections)}"
            )
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"config key {section!r} must be a table")
        table[key] = _parse_env_value(raw)


def _parse_env_value(raw: str) -> Any:
    """Lists and tables arrive as JSON; anything else is left to pydantic's coercion."""
    text = raw.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def _describe(exc: ValidationError, source: str) -> str:
    lines = [f"invalid configuration ({source}):"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key")
        else:
            value = err.get("input")
            secret = any(w in key for w in ("url", "dsn", "digest", "webhook", "password"))
            shown = "" if secret or isinstance(value, dict) else f" (got {value!r})"
            lines.append(f"  {key}: {err['msg']}{shown}")
    return "\n".join(lines)
