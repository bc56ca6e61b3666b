"""One frozen Settings object, read from the environment once, with embedded defaults."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from sqlalchemy import make_url

__all__ = ["ConfigurationError", "RelayPlacement", "Settings"]

_PREFIX = "SCIMTRAIL_"
_DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./scimtrail.db"
_T = TypeVar("_T")


class ConfigurationError(ValueError):
    """A setting that cannot be used, said in one line that names the variable."""


class RelayPlacement(StrEnum):
    """Where the audit relay (sealing, checkpoints, retention, log-stream delivery) runs:
    ``SCIMTRAIL_RELAY``. Why the child is the default on a SQLite file:
    ``docs/decisions/0003-relay-child-process-and-log-file.md``."""

    #: A process of its own that the server starts, restarts and stops (``scim_server.relay_placement``).
    CHILD = "child"
    #: Inside the server's process, on its event loop.
    INPROCESS = "inprocess"
    #: Not in the server: an operator runs ``scimtrail relay`` beside it.
    EXTERNAL = "external"
    #: Nowhere: events are recorded in the outbox but nobody seals them. For benchmarks and tests.
    OFF = "off"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip())


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError("expected a whole number") from None


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError("expected a number") from None


def _relay(value: str) -> RelayPlacement:
    try:
        return RelayPlacement(value.strip().lower())
    except ValueError:
        raise ValueError(f"expected one of {', '.join(RelayPlacement)}") from None


def _parsed(name: str, value: str, parse: Callable[[str], _T]) -> _T:
    """``parse(value)``, or a :class:`ConfigurationError` naming the variable instead of a traceback."""
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigurationError(f"{_PREFIX}{name}={value!r}: {exc}") from None


def _in_memory(database_url: str) -> bool:
    """An in-memory SQLite database: this process's alone, no other process can open it."""
    url = make_url(database_url)
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or url.query.get("mode") == "memory"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable. Build with :meth:`from_env`; nothing here does I/O."""

    database_url: str = _DEFAULT_DATABASE_URL
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
    #: Where the audit relay runs. :meth:`from_env` resolves the default for the database (the
    #: child on a SQLite file, in-process on PostgreSQL or in memory); this one fits the default URL.
    relay: RelayPlacement = RelayPlacement.CHILD
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

        for retired in ("RUN_RELAY", "RELAY_PROCESS"):
            # Ignoring them would start a second relay beside an operator's own: say so instead.
            if get(retired) is not None:
                raise ConfigurationError(
                    f"{_PREFIX}{retired} is replaced by {_PREFIX}RELAY ({', '.join(RelayPlacement)}); "
                    f"unset it and set {_PREFIX}RELAY instead"
                )
        if (v := get("DATABASE_URL")) is not None:
            values["database_url"] = normalise_database_url(v)
        if (v := get("LOG_FORMAT")) is not None:
            values["log_format"] = v
        if (v := get("LOG_LEVEL")) is not None:
            values["log_level"] = v
        if (v := get("MAX_BODY_BYTES")) is not None:
            values["max_body_bytes"] = _parsed("MAX_BODY_BYTES", v, _int)
        if (v := get("MAX_PAGE_SIZE")) is not None:
            values["max_page_size"] = _parsed("MAX_PAGE_SIZE", v, _int)
        if (v := get("TRUSTED_PROXIES")) is not None:
            values["trusted_proxies"] = _parsed("TRUSTED_PROXIES", v, _networks)
        if (v := get("RELAY")) is not None:
            values["relay"] = _parsed("RELAY", v, _relay)
        if (v := get("AUDIT_ENABLED")) is not None:
            values["audit_enabled"] = _bool(v)
        if (v := get("SECRET_KEY")) is not None:
            values["secret_key"] = v
        if (v := get("SECRET_KEY_FILE")) is not None:
            values["secret_key_file"] = v
        if (v := get("RATE_LIMIT_PER_SECOND")) is not None:
            values["rate_limit_per_second"] = _parsed("RATE_LIMIT_PER_SECOND", v, _float)
        if (v := get("RATE_LIMIT_BURST")) is not None:
            values["rate_limit_burst"] = _parsed("RATE_LIMIT_BURST", v, _int)
        if (v := get("OAUTH_TOKEN_TTL_SECONDS")) is not None:
            values["oauth_token_ttl_seconds"] = _parsed("OAUTH_TOKEN_TTL_SECONDS", v, _int)
        if (v := get("STREAMS_ALLOW_PRIVATE_NETWORKS")) is not None:
            values["streams_allow_private_networks"] = _bool(v)
        if (v := get("STREAMS_ALLOWED_NETWORKS")) is not None:
            values["streams_allowed_networks"] = _parsed("STREAMS_ALLOWED_NETWORKS", v, _networks)
        values.update(overrides)
        if "relay" in values:
            values["relay"] = _parsed("RELAY", str(values["relay"]), _relay)
        else:
            values["relay"] = _default_relay_placement(str(values.get("database_url", _DEFAULT_DATABASE_URL)))
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        # Refused here, where every Settings is built, so that no server or command starts with a
        # relay placement that cannot work on its database.
        if (
            self.relay in (RelayPlacement.CHILD, RelayPlacement.EXTERNAL)
            and self.is_sqlite
            and _in_memory(self.database_url)
        ):
            raise ConfigurationError(
                f"{_PREFIX}RELAY={self.relay}: an in-memory database is this process's alone and no other "
                f"process can seal it; use inprocess or off"
            )
        if self.relay is RelayPlacement.CHILD and not self.is_sqlite:
            raise ConfigurationError(
                f"{_PREFIX}RELAY=child is for a SQLite file (the child seals into the log's own file); "
                f"on this database use inprocess, or external with `scimtrail relay` beside the server"
            )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _default_relay_placement(database_url: str) -> RelayPlacement:
    """The child beside the server on a SQLite file, where it seals on another core into a file
    of its own; inside the server on PostgreSQL (one database, nothing to gain from a file of its
    own) and in memory (no other process can open it)."""
    if database_url.startswith("sqlite") and not _in_memory(database_url):
        return RelayPlacement.CHILD
    return RelayPlacement.INPROCESS


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``sqlite:///x.db``) and pick our async drivers."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url.split("://", 1)[1]
    if url.endswith(".db") and "://" not in url:
        return f"sqlite+aiosqlite:///{Path(url)}"
    return url
