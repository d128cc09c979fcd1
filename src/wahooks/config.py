"""Settings: every knob of a wahooks process, read from flags or WAHOOKS_* environment variables.

No instance is created at import; the CLI builds one from its flags (which fall back to the
environment) and hands it to `wahooks.app`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_RETRY_SCHEDULE = (5.0, 10.0, 20.0, 40.0, 80.0)


class Settings(BaseSettings):
    """Configuration of one wahooks process."""

    model_config = SettingsConfigDict(env_prefix="WAHOOKS_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Interface the HTTP server listens on.")
    port: int = Field(3001, ge=0, le=65535, description="TCP port of the HTTP server (0 = any free).")
    database: str = Field(
        "wahooks.db",
        description="SQLite file path (or sqlite:///path). Created on first start.",
    )
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "normal",
        description="SQLite durability: 'normal' survives any process crash; 'full' also an OS"
        " crash or power loss, at the cost of an fsync per commit.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Logging threshold."
    )
    engine: Literal["sandbox"] = Field(
        "sandbox", description="WhatsApp engine: 'sandbox' simulates accounts locally."
    )
    allow_private_targets: bool = Field(
        False,
        description="Deliver to loopback, private and link-local addresses (local development).",
    )
    retry_schedule: Annotated[tuple[float, ...], NoDecode] = Field(
        DEFAULT_RETRY_SCHEDULE,
        description="Seconds to wait before each retry after a failed attempt, comma separated.",
    )
    request_timeout: float = Field(
        15.0, gt=0, description="Seconds a receiver has to answer one delivery."
    )
    max_in_flight: int = Field(
        1024, ge=1, description="Deliveries in flight at once across all endpoints."
    )
    max_in_flight_per_endpoint: int = Field(
        128, ge=1, description="Deliveries in flight at once to one endpoint (scheme, host, port)."
    )
    dead_letters_kept: int = Field(
        1000, ge=1, description="Dead-lettered deliveries kept per webhook (newest first)."
    )
    delivered_kept: int = Field(
        1000, ge=0, description="Delivered log rows kept per webhook (newest first)."
    )
    delivered_max_age: float = Field(
        7 * 24 * 3600.0, gt=0, description="Seconds a delivered log row is kept at most."
    )
    retention_interval: float = Field(
        60.0, gt=0, description="Seconds between two retention sweeps."
    )
    poll_interval: float = Field(
        1.0, gt=0, description="Safety-net seconds between two looks for due retries."
    )

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            return tuple(float(part) for part in parts)
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _check_schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("retry delays must not be negative")
        return value

    @property
    def sqlite_path(self) -> str:
        prefix = "sqlite:///"
        return self.database[len(prefix):] if self.database.startswith(prefix) else self.database
