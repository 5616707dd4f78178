"""Runtime settings, read from the environment (``TIETOTIE_*``) only when asked."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Environment", "Settings", "get_settings"]


class Environment(StrEnum):
    """Where the service runs; only development tolerates a missing or placeholder master key."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()
