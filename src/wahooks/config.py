"""Settings: every knob of a wahooks process, read from flags or WAHOOKS_* environment variables.

No instance is created at import; the CLI builds one from its flags (which fall back to the
environment) and hands it to `wahooks.app`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_RETRY_SCHEDULE = (5.0, 10.0, 20.0, 40.0, 80.0)


class Settings(BaseSettings):
    """Configuration of one wahooks process."""

    model_config = SettingsConfigDict(env_prefix="WAHOOKS_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Interface the HTTP server listens on.")
    port: int = Field(3001, ge=0, le=65535, description="TCP port of the HTTP server (0 = any free).")
    database: str = Field(
        "wahooks.db",
        validation_alias=AliasChoices("WAHOOKS_DATABASE", "WAHOOKS_DATABASE_URL", "database"),
        description="SQLite file path (or sqlite:///path), created on first start; or a"
        " postgresql://user@host/db URL (optional ?schema=name) for many processes.",
    )
    role: Literal["all", "api", "worker"] = Field(
        "all",
        description="What this process runs: 'api' serves the API and accepts events, 'worker'"
        " delivers them, 'all' both. Separate roles need PostgreSQL.",
    )
    lease_seconds: float = Field(
        60.0,
        gt=0,
        description="Seconds a dispatcher holds a claimed delivery before another process may"
        " take it (renewed while held; it only runs out when a process dies). PostgreSQL only.",
    )
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "normal",
        description="SQLite durability: 'normal' survives any process crash; 'full' also an OS"
        " crash or power loss, at the cost of an fsync per commit.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Logging threshold."
    )
    engine: Literal["sandbox", "waha"] = Field(
        "sandbox",
        description="WhatsApp engine: 'sandbox' simulates accounts locally; 'waha' drives WAHA"
        " servers (real WhatsApp).",
    )
    waha_url: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Base URL of each WAHA server, comma separated (engine 'waha').",
    )
    waha_api_key: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="WAHA's X-Api-Key: one for all servers, or one per URL in the same order.",
    )
    waha_capacity: Annotated[tuple[int, ...], NoDecode] = Field(
        (50,),
        description="Sessions each WAHA server takes at most: one for all, or one per URL.",
    )
    waha_timeout: float = Field(30.0, gt=0, description="Seconds every WAHA call may take.")
    waha_reconcile_interval: float = Field(
        60.0, gt=0, description="Seconds between two comparisons of WAHA's sessions with ours."
    )
    waha_max_event_bytes: int = Field(
        1024 * 1024, ge=1024,
        description="Bytes one event posted to /api/events/waha may have (413 beyond; WAHA's"
        " events are small, media come as URLs).",
    )
    waha_event_window: float = Field(
        24 * 3600.0, gt=0,
        description="Seconds a WAHA event's timestamp may lie in the past (older events are"
        " refused as replays); event ids are remembered twice as long.",
    )
    public_url: str | None = Field(
        None,
        description="Base URL under which WAHA reaches this server (its webhooks go to"
        " <public_url>/api/events/waha); default http://<host>:<port>.",
    )
    presence_delay_factor: float | None = Field(
        None,
        ge=0,
        description="Scale of the human-like typing pause before a send (1 = the original's"
        " 1-8 s, 0 = none); default 1 with WAHA, 0 with the sandbox.",
    )
    metrics_public: bool = Field(
        False,
        description="Serve /metrics without a token (only on a private network: it shows"
        " queue sizes and traffic, never tenant data); otherwise it takes an owner's token.",
    )
    reuse_port: bool = Field(
        False,
        description="Several API processes on one host share WAHOOKS_PORT (SO_REUSEPORT: the"
        " kernel spreads new connections among them), so ingest uses more than one core."
        " PostgreSQL only: a SQLite file is served by one process.",
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="A delivery worker (--role worker) serves /metrics on this port of"
        " WAHOOKS_HOST, under the same access rule as the API's /metrics; unset: a worker"
        " serves no HTTP at all. Ignored by the other roles (they serve /metrics on the API).",
    )
    allow_private_targets: bool = Field(
        False,
        description="Deliver to loopback, private and link-local addresses (local development).",
    )
    retry_schedule: Annotated[tuple[float, ...], NoDecode] = Field(
        DEFAULT_RETRY_SCHEDULE,
        description="Seconds to wait before each retry after a failed attempt, comma separated.",
    )
    retry_after_max: float = Field(
        3600.0, ge=0,
        description="Seconds a receiver's Retry-After (on 429 or 503) may delay a retry at most.",
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
    held_max: int = Field(
        10_000, ge=1,
        description="Held deliveries kept per disabled webhook (newest first); the oldest beyond"
        " it are dropped and counted.",
    )
    disable_after: float = Field(
        5 * 24 * 3600.0, gt=0,
        description="Seconds a webhook's every attempt must have failed before it is disabled"
        " (with at least disable_min_dead_letters dead letters in a row).",
    )
    disable_min_dead_letters: int = Field(
        10, ge=1,
        description="Consecutive dead letters a failing webhook must have before it is disabled.",
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

    max_header_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Bytes a request's line and headers may take; beyond, 431 and the connection"
        " closes.",
    )
    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send a request's line and headers (from the"
        " connection's start for its first request); beyond, 408 and the connection closes.",
    )
    body_timeout: float = Field(
        60.0,
        gt=0,
        description="Seconds a client has to send a request's body once its headers are in;"
        " beyond, 408 and the connection closes.",
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        description="Client connections open at once; a new one beyond closes the one waiting"
        " longest for a request. Default: the fd limit less WAHOOKS_MAX_IN_FLIGHT and 256, at"
        " least half the fd limit.",
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

    @field_validator("waha_url", "waha_api_key", mode="before")
    @classmethod
    def _parse_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("waha_capacity", mode="before")
    @classmethod
    def _parse_capacities(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(part) for part in value.split(",") if part.strip())
        if isinstance(value, int):
            return (value,)
        return value

    @field_validator("waha_url")
    @classmethod
    def _check_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"WAHA URL {url!r} must start with http:// or https://")
        return tuple(url.rstrip("/") for url in value)

    @field_validator("waha_capacity")
    @classmethod
    def _check_capacities(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(capacity < 1 for capacity in value):
            raise ValueError("WAHA capacities must be positive integers")
        return value

    @model_validator(mode="after")
    def _check_role(self) -> Settings:
        if self.role != "all" and not self.uses_postgres:
            raise ValueError(
                f"role '{self.role}' needs PostgreSQL (WAHOOKS_DATABASE=postgresql://...):"
                " a SQLite file is served by one process, which must have role 'all'"
            )
        return self

    @model_validator(mode="after")
    def _check_reuse_port(self) -> Settings:
        if self.reuse_port and not self.uses_postgres:
            raise ValueError(
                "reuse_port needs PostgreSQL (WAHOOKS_DATABASE=postgresql://...): a SQLite file"
                " is served by one process, so there is no second one to share the port with"
            )
        return self

    @model_validator(mode="after")
    def _check_waha(self) -> Settings:
        if self.engine != "waha":
            return self
        if not self.waha_url:
            raise ValueError("engine 'waha' needs WAHOOKS_WAHA_URL (one or more WAHA base URLs)")
        count = len(self.waha_url)
        for name in ("waha_api_key", "waha_capacity"):
            given = len(getattr(self, name))
            if given not in (0, 1, count) or (name == "waha_capacity" and given == 0):
                raise ValueError(
                    f"WAHOOKS_{name.upper()} needs one value for all WAHA servers or one per URL"
                    f" ({count}), not {given}"
                )
        return self

    @property
    def ingest_base_url(self) -> str:
        """The base URL WAHA's webhooks are addressed to."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def presence_factor(self) -> float:
        if self.presence_delay_factor is not None:
            return self.presence_delay_factor
        return 1.0 if self.engine == "waha" else 0.0

    @property
    def uses_postgres(self) -> bool:
        return self.database.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> str:
        prefix = "sqlite:///"
        return self.database[len(prefix):] if self.database.startswith(prefix) else self.database
