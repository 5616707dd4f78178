"""Runtime settings, read from the environment (``TIETOTIE_*``) only when asked."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Environment", "RateLimitSettings", "Settings", "get_settings"]


class Environment(StrEnum):
    """Where the service runs; only development tolerates a missing or placeholder master key."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class RateLimitSettings(BaseModel):
    """The limits of DESIGN §11, as ``N/minute|hour|day`` joined by ``;`` (every window holds).

    Set one with ``TIETOTIE_RATE_LIMITS__OPEN_PER_IDENTIFIER="3/hour;10/day"``.
    """

    model_config = ConfigDict(extra="forbid")

    open_per_identifier: str = Field(
        default="5/hour;20/day", description="Requests opened naming one identifier."
    )
    open_per_client: str = Field(
        default="30/hour;200/day", description="Requests opened from one client address."
    )
    wrong_codes_per_identifier: str = Field(
        default="10/hour;30/day",
        description="Wrong verification codes for one identifier, across all its requests.",
    )
    consent_per_client: str = Field(
        default="60/minute;600/hour",
        description="Consent calls without a staff token, from one client address.",
    )
    messages_per_identifier: str = Field(
        default="5/hour;20/day", description="Messages sent to one identifier."
    )


class Settings(BaseSettings):
    """Everything tietotie reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="TIETOTIE_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Environment = Field(
        default=Environment.DEVELOPMENT, description="development | test | production"
    )
    strategy: Path = Field(default=Path("strategy"), description="The strategy directory or file.")
    database_url: str = Field(
        default="sqlite:///var/tietotie.db", description="SQLAlchemy URL of the system of record."
    )
    var_dir: Path = Field(default=Path("var"), description="Where local state lives.")
    master_key: SecretStr | None = Field(
        default=None, description="Base64 master key (TIETOTIE_MASTER_KEY)."
    )
    key_file: Path = Field(default=Path("var/master.key"), description="Master key file.")
    smtp_host: str | None = Field(
        default=None, description="SMTP server for verification codes; unset: the outbox."
    )
    smtp_port: int = Field(default=587, description="SMTP port (STARTTLS when offered).")
    smtp_sender: str = Field(
        default="privacy@localhost", description="From address of messages to requesters."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login name.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    rate_limit_storage: str = Field(
        default="memory://",
        description="Where rate-limit counters live: memory:// for one process, "
        "redis://host:port/db for several workers (they must share one).",
    )
    rate_limits: RateLimitSettings = Field(
        default_factory=RateLimitSettings, description="The numbers of every rate limit."
    )
    requester_token_lifetime: timedelta = Field(
        default=timedelta(days=7),
        gt=timedelta(0),
        description="How long a requester's access token works after verification while "
        "the request is open (ISO 8601, e.g. P7D).",
    )
    answer_lifetime: timedelta = Field(
        default=timedelta(days=30),
        gt=timedelta(0),
        description="How long a closed request's answer (its export, kept as produced at "
        "completion) can be read with the requester's token; then 410 (ISO 8601, e.g. P30D).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address customers reach the service at, for links in messages "
        "(unsubscribe links, a request's page); https://… in production.",
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest request body accepted; larger ones are refused with 413.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()
