"""One frozen Settings object, read from the environment once, with embedded defaults."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings"]

_PREFIX = "SCIMTRAIL_"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable. Build with :meth:`from_env`; nothing here does I/O."""

    database_url: str = "sqlite+aiosqlite:///./scimtrail.db"
    #: "console" (for people), "json" (for log collectors), or "auto": console on a terminal, else JSON.
    log_format: str = "auto"
    log_level: str = "info"
    #: Requests with a larger body are refused with 413 before they are read in full.
    max_body_bytes: int = 1024 * 1024
    #: Largest page a list request may ask for; larger ``count`` values are capped.
    max_page_size: int = 1000
    default_page_size: int = 100
    max_bulk_operations: int = 1000
    max_bulk_payload_bytes: int = 1024 * 1024
    #: Proxies whose X-Forwarded-Proto/Host are believed when building meta.location.
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default_factory=lambda: _networks("127.0.0.1/32,::1/128")
    )
    #: Run the audit relay with the server (the embedded default).
    run_relay: bool = True
    #: On a SQLite file, run it in a process of its own that the server starts and stops
    #: (``scim_server.relay_process``); otherwise, and always elsewhere, inside the server.
    relay_process: bool = True
    #: Write audit events to the outbox; off only for the overhead benchmark.
    audit_enabled: bool = True
    #: Secret material for at-rest encryption of stream secrets and checkpoint signing.
    secret_key: str = ""
    #: Where a generated secret key is kept when ``secret_key`` is not set (default: beside the SQLite file).
    secret_key_file: str = ""
    #: Per-credential token bucket: sustained requests per second and burst size (0 disables).
    rate_limit_per_second: float = 0.0
    rate_limit_burst: int = 0
    oauth_token_ttl_seconds: int = 3600
    #: Let log streams send to non-public addresses (loopback, RFC 1918, CGNAT, ULA): a SIEM on
    #: the internal network. Link-local and cloud metadata addresses stay refused.
    streams_allow_private_networks: bool = False
    #: Networks log streams may send to whatever they are, e.g. only the SIEM's subnet.
    streams_allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}

        def get(name: str) -> str | None:
            return env.get(_PREFIX + name)

        if (v := get("DATABASE_URL")) is not None:
            values["database_url"] = normalise_database_url(v)
        if (v := get("LOG_FORMAT")) is not None:
            values["log_format"] = v
        if (v := get("LOG_LEVEL")) is not None:
            values["log_level"] = v
        if (v := get("MAX_BODY_BYTES")) is not None:
            values["max_body_bytes"] = int(v)
        if (v := get("MAX_PAGE_SIZE")) is not None:
            values["max_page_size"] = int(v)
        if (v := get("TRUSTED_PROXIES")) is not None:
            values["trusted_proxies"] = _networks(v)
        if (v := get("RUN_RELAY")) is not None:
            values["run_relay"] = _bool(v)
        if (v := get("RELAY_PROCESS")) is not None:
            values["relay_process"] = _bool(v)
        if (v := get("AUDIT_ENABLED")) is not None:
            values["audit_enabled"] = _bool(v)
        if (v := get("SECRET_KEY")) is not None:
            values["secret_key"] = v
        if (v := get("SECRET_KEY_FILE")) is not None:
            values["secret_key_file"] = v
        if (v := get("RATE_LIMIT_PER_SECOND")) is not None:
            values["rate_limit_per_second"] = float(v)
        if (v := get("RATE_LIMIT_BURST")) is not None:
            values["rate_limit_burst"] = int(v)
        if (v := get("OAUTH_TOKEN_TTL_SECONDS")) is not None:
            values["oauth_token_ttl_seconds"] = int(v)
        if (v := get("STREAMS_ALLOW_PRIVATE_NETWORKS")) is not None:
            values["streams_allow_private_networks"] = _bool(v)
        if (v := get("STREAMS_ALLOWED_NETWORKS")) is not None:
            values["streams_allowed_networks"] = _networks(v)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``sqlite:///x.db``) and pick our async drivers."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    if url.endswith(".db") and "://" not in url:
        return f"sqlite+aiosqlite:///{Path(url)}"
    return url
