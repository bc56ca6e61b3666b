"""Syslog over TLS (RFC 5424 messages, RFC 5425 transport, octet-counted frames).

Each event is one message: ``<PRI>1 TIMESTAMP HOST scim-audit - ACTION [audit@32473 …] BOM MSG``
where MSG is the event in the stream's format (JSON for native and OCSF, a CEF line for cef).
PRI is facility 13 (log audit) with severity informational, or warning for a refused credential.

Syslog has no application-level acknowledgement: frames written just before a connection
breaks can be lost without an error. So the sink keeps the last batch it wrote and, when it
finds the connection gone at the next send, writes that batch again ahead of the new one
(receivers deduplicate on the event id carried in the structured data).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar

import orjson

from ._base import Batch, Delivered, Outcome, Rejected, RejectScope, Retry, SinkConfigError, SinkContext
from ._config import check_known, optional_number, optional_str, required_str
from ._destinations import DestinationRefused

__all__ = ["SyslogSink", "format_message"]

#: 32473 is the Private Enterprise Number IANA reserves for documentation (RFC 5612); an
#: operator with a registered PEN sets ``enterprise_id`` to it.
_DOCUMENTATION_PEN = 32473
_FACILITY_LOG_AUDIT = 13
_SEVERITY = {"credential.rejected": 4}  # warning; everything else informational (6)
_BOM = "\ufeff"


def _sd_value(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _ascii_token(value: str, limit: int) -> str:
    """A header field: printable US-ASCII without spaces, within its RFC 5424 length."""
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value)[:limit]
    return cleaned or "-"


def format_message(event: Mapping[str, Any], msg: str, *, hostname: str, app_name: str, enterprise_id: int) -> bytes:
    """One RFC 5424 message (without its octet count)."""
    action = str(event["action"])
    pri = _FACILITY_LOG_AUDIT * 8 + _SEVERITY.get(action, 6)
    targets = event.get("targets") or []
    params = {
        "id": event.get("id"),
        "seq": event.get("sequence"),
        "org": event.get("organization"),
        "actor": (event.get("actor") or {}).get("name"),
        "target": targets[0].get("name") if targets else None,
        "outcome": "failure" if action == "credential.rejected" else "success",
    }
    sd = " ".join(f'{k}="{_sd_value(v)}"' for k, v in params.items() if v is not None)
    header = (
        f"<{pri}>1 {event['occurred_at']} {_ascii_token(hostname, 255)} {_ascii_token(app_name, 48)} - "
        f"{_ascii_token(action, 32)} [audit@{enterprise_id} {sd}]"
    )
    return f"{header} {_BOM}{msg}".encode()


class SyslogSink:
    type_name: ClassVar[str] = "syslog"
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    max_batch_events: ClassVar[int] = 1000
    destination_fields: ClassVar[frozenset[str]] = frozenset({"host"})

    @classmethod
    def validate(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        check_known(config, {"host", "port", "ca_cert", "server_name", "hostname", "app_name", "enterprise_id"})
        checked: dict[str, Any] = {
            "host": required_str(config, "host"),
            "port": int(optional_number(config, "port", 6514, low=1, high=65535)),
            "app_name": optional_str(config, "app_name", "scim-audit"),
            "enterprise_id": int(optional_number(config, "enterprise_id", _DOCUMENTATION_PEN, low=1, high=2**31)),
        }
        if (ca_cert := optional_str(config, "ca_cert")) is not None:
            try:
                ssl.create_default_context(cadata=ca_cert)
            except (ssl.SSLError, ValueError):
                raise SinkConfigError("config.ca_cert must be PEM-encoded CA certificates") from None
            checked["ca_cert"] = ca_cert
        for name in ("server_name", "hostname"):
            if (value := optional_str(config, name)) is not None:
                checked[name] = value
        return checked

    def __init__(self, config: Mapping[str, Any], context: SinkContext) -> None:
        self._config = config
        self._context = context
        self._hostname = config.get("hostname") or socket.gethostname()
        self._tls = ssl.create_default_context(cadata=config.get("ca_cert"))
        self._tls.minimum_version = ssl.TLSVersion.TLSv1_2
        self._connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        #: Frames of the last batch written: not known to have arrived until the next write
        #: finds the connection still up.
        self._unconfirmed = b""

    def _frames(self, batch: Batch) -> bytes:
        frames = []
        for event in batch.events:
            encoded = self._context.encoder(event)
            msg = encoded if isinstance(encoded, str) else orjson.dumps(encoded).decode()
            message = format_message(
                event,
                msg,
                hostname=self._hostname,
                app_name=self._config["app_name"],
                enterprise_id=self._config["enterprise_id"],
            )
            frames.append(b"%d %s" % (len(message), message))
        return b"".join(frames)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """TLS to an address the destination policy judged; the certificate is checked against the name."""
        host, port = self._config["host"], self._config["port"]

        async def attempt(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            server_name = self._config.get("server_name", host)
            return await asyncio.open_connection(address, port, ssl=self._tls, server_hostname=server_name)

        return await asyncio.wait_for(self._context.destinations.connect(host, port, attempt), self._context.timeout)

    async def send(self, batch: Batch) -> Outcome:
        frames = payload = self._frames(batch)
        if self._connection is not None:
            reader, writer = self._connection
            if writer.is_closing() or reader.at_eof():
                # The connection died after our last write: that batch may be lost, send it again.
                await self.aclose(keep_unconfirmed=True)
        if self._connection is None:
            try:
                self._connection = await self._connect()
            except DestinationRefused as exc:
                return Rejected(str(exc), RejectScope.STREAM)
            except ssl.SSLCertVerificationError as exc:
                return Rejected(f"syslog server certificate not trusted: {exc.verify_message}", RejectScope.STREAM)
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                return Retry(f"syslog server unreachable: {type(exc).__name__}")
            payload = self._unconfirmed + payload
        _, writer = self._connection
        try:
            writer.write(payload)
            await asyncio.wait_for(writer.drain(), self._context.timeout)
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            await self.aclose(keep_unconfirmed=True)
            return Retry(f"syslog connection failed: {type(exc).__name__}")
        self._unconfirmed = frames
        return Delivered()

    async def aclose(self, *, keep_unconfirmed: bool = False) -> None:
        connection, self._connection = self._connection, None
        if not keep_unconfirmed:
            self._unconfirmed = b""
        if connection is not None:
            connection[1].close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection[1].wait_closed(), 1.0)
