"""Receivers for log-stream tests: real HTTP servers on 127.0.0.1 that hold senders to the
documented protocol (SINKS.md) and record what they were sent.

Each receiver is an ASGI app served by uvicorn on the test's event loop (:class:`Served`). It
answers protocol violations the way the real service documents, and can be scripted to fail
(:meth:`Receiver.fail_next`): a status with headers, a delay, or both.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import ipaddress
import json
import re
import ssl
import tempfile
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.server import free_port

__all__ = [
    "DatadogReceiver",
    "Fault",
    "Receiver",
    "Served",
    "SplunkHecReceiver",
    "SyslogTlsReceiver",
    "WebhookReceiver",
    "self_signed_tls",
]


@dataclass(frozen=True)
class Fault:
    """One scripted answer: wait ``delay`` seconds, then answer ``status`` (0: answer normally)."""

    status: int = 500
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0


class Receiver:
    """What every receiver records: requests, accepted events (in arrival order), faults to play."""

    def __init__(self) -> None:
        self.requests = 0
        self.faults: deque[Fault] = deque()
        #: Every event accepted, in arrival order, duplicates included.
        self.received: list[dict[str, Any]] = []
        self.batch_ids: list[str] = []
        self.rejections: list[str] = []

    def fail_next(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def unique(self, key: str = "id") -> list[dict[str, Any]]:
        """Accepted events with copies removed (first arrival wins), as a deduplicating SIEM keeps them."""
        seen: set[Any] = set()
        out = []
        for event in self.received:
            if event[key] not in seen:
                seen.add(event[key])
                out.append(event)
        return out

    async def _scripted(self) -> Response | None:
        self.requests += 1
        if not self.faults:
            return None
        fault = self.faults.popleft()
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status == 0:
            return None
        if isinstance(fault.body, dict | list):
            return JSONResponse(fault.body, fault.status, headers=dict(fault.headers))
        return Response(fault.body or b"", fault.status, headers=dict(fault.headers))

    def _reject(self, status: int, body: Any) -> Response:
        self.rejections.append(f"{status} {body}")
        return JSONResponse(body, status) if not isinstance(body, str) else Response(body, status)


class WebhookReceiver(Receiver):
    """A Standard Webhooks consumer: verifies signatures with the reference library."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.verifier = Webhook(secret)
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        if request.headers.get("content-type") != "application/json":
            return self._reject(415, "content-type must be application/json")
        try:
            payload = self.verifier.verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            return self._reject(401, f"bad signature: {exc}")
        if not isinstance(payload, list) or not payload:
            return self._reject(400, "body must be a non-empty JSON array")
        if (scripted := await self._scripted()) is not None:
            return scripted
        self.batch_ids.append(request.headers["webhook-id"])
        self.received.extend(payload)
        return Response(status_code=204)


class SplunkHecReceiver(Receiver):
    """Splunk's HTTP Event Collector, with its error codes and indexer acknowledgement."""

    def __init__(
        self, token: str, *, ack: bool = False, indexes: tuple[str, ...] = ("main",), ack_after_polls: int = 1
    ):
        super().__init__()
        self.token = token
        self.ack = ack
        self.indexes = indexes
        self.ack_after_polls = ack_after_polls
        self.channels: set[str] = set()
        self.envelopes: list[dict[str, Any]] = []
        self._next_ack = 0
        #: ackId → [polls seen, events]; events count as received only once acknowledged.
        self._pending: dict[int, list[Any]] = {}
        self.app = Starlette(
            routes=[
                Route("/services/collector/event", self._event, methods=["POST"]),
                Route("/services/collector/ack", self._ack, methods=["POST"]),
            ]
        )

    def _auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization")
        if header is None:
            return self._reject(401, {"text": "Token is required", "code": 2})
        scheme, _, token = header.partition(" ")
        if scheme != "Splunk":
            return self._reject(401, {"text": "Invalid authorization", "code": 3})
        if token != self.token:
            return self._reject(403, {"text": "Invalid token", "code": 4})
        return None

    def _channel(self, request: Request) -> str | Response | None:
        channel = request.headers.get("x-splunk-request-channel") or request.query_params.get("channel")
        if self.ack and not channel:
            return self._reject(400, {"text": "Data channel is missing", "code": 10})
        return channel

    async def _event(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        channel = self._channel(request)
        if isinstance(channel, Response):
            return channel
        raw = (await request.body()).decode()
        if not raw.strip():
            return self._reject(400, {"text": "No data", "code": 5})
        envelopes = []
        decoder = json.JSONDecoder()
        position = 0
        try:
            while position < len(raw):
                while position < len(raw) and raw[position].isspace():
                    position += 1
                if position == len(raw):
                    break
                envelope, position = decoder.raw_decode(raw, position)
                envelopes.append(envelope)
        except json.JSONDecodeError:
            return self._reject(400, {"text": "Invalid data format", "code": 6, "invalid-event-number": len(envelopes)})
        for number, envelope in enumerate(envelopes):
            if not isinstance(envelope, dict) or "event" not in envelope:
                return self._reject(
                    400, {"text": "Event field is required", "code": 12, "invalid-event-number": number}
                )
            if envelope["event"] in ("", None, {}):
                return self._reject(
                    400, {"text": "Event field cannot be blank", "code": 13, "invalid-event-number": number}
                )
            if "index" in envelope and envelope["index"] not in self.indexes:
                return self._reject(400, {"text": "Incorrect index", "code": 7, "invalid-event-number": number})
            if not isinstance(envelope.get("time"), int | float):
                return self._reject(400, {"text": "Invalid data format", "code": 6, "invalid-event-number": number})
        if (scripted := await self._scripted()) is not None:
            return scripted
        events = [e["event"] for e in envelopes]
        self.envelopes.extend(envelopes)
        if not self.ack:
            self.received.extend(events)
            return JSONResponse({"text": "Success", "code": 0})
        assert isinstance(channel, str)
        self.channels.add(channel)
        ack_id = self._next_ack
        self._next_ack += 1
        self._pending[ack_id] = [0, events]
        return JSONResponse({"text": "Success", "code": 0, "ackId": ack_id})

    async def _ack(self, request: Request) -> Response:
        if (denied := self._auth(request)) is not None:
            return denied
        if not self.ack:
            return self._reject(400, {"text": "ACK is disabled", "code": 14})
        channel = request.query_params.get("channel") or request.headers.get("x-splunk-request-channel")
        if not channel:
            return self._reject(400, {"text": "Data channel is missing", "code": 10})
        if channel not in self.channels:
            return self._reject(400, {"text": "Invalid data channel", "code": 11})
        body = json.loads(await request.body())
        answer = {}
        for ack_id in body["acks"]:
            entry = self._pending.get(ack_id)
            if entry is None:
                answer[str(ack_id)] = False
                continue
            entry[0] += 1
            done = entry[0] >= self.ack_after_polls
            if done and entry[1] is not None:
                self.received.extend(entry[1])
                entry[1] = None
            answer[str(ack_id)] = done
        return JSONResponse({"acks": answer})


class DatadogReceiver(Receiver):
    """Datadog's logs intake (API v2): API key, gzip, array and size limits."""

    def __init__(self, api_key: str, *, max_payload_bytes: int = 5 * 1024 * 1024, max_items: int = 1000):
        super().__init__()
        self.api_key = api_key
        self.max_payload_bytes = max_payload_bytes
        self.max_items = max_items
        self.payload_sizes: list[int] = []
        self.items: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/api/v2/logs", self._logs, methods=["POST"])])

    async def _logs(self, request: Request) -> Response:
        if request.headers.get("dd-api-key") != self.api_key:
            return self._reject(403, {"errors": ["Forbidden"]})
        if request.headers.get("content-type") != "application/json":
            return self._reject(400, {"errors": ["content-type must be application/json"]})
        raw = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                return self._reject(400, {"errors": ["bad gzip"]})
        if len(raw) > self.max_payload_bytes:
            return self._reject(413, {"errors": ["Payload too large"]})
        try:
            items = json.loads(raw)
        except json.JSONDecodeError:
            return self._reject(400, {"errors": ["invalid JSON"]})
        if not isinstance(items, list) or not 0 < len(items) <= self.max_items:
            return self._reject(400, {"errors": [f"expected an array of 1 to {self.max_items} logs"]})
        for item in items:
            missing = {"ddsource", "service", "hostname", "ddtags", "message", "date", "audit"} - set(item)
            if missing:
                return self._reject(400, {"errors": [f"missing {sorted(missing)}"]})
        if (scripted := await self._scripted()) is not None:
            return scripted
        self.payload_sizes.append(len(raw))
        self.received.extend(item["audit"] for item in items)
        self.items.extend(items)
        return JSONResponse({}, 202)


class _QuietServer(uvicorn.Server):
    """Leaves signal handling to pytest: several receivers start and stop in any order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Served:
    """An ASGI app served by uvicorn on 127.0.0.1, which can be stopped and started again."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Served:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def __aenter__(self) -> Served:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def self_signed_tls(host: str = "127.0.0.1") -> tuple[str, ssl.SSLContext]:
    """A throwaway CA-less server certificate for ``host``: (PEM to trust, server context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scimtrail test syslog")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cert.pem").write_bytes(cert_pem)
        (Path(tmp) / "key.pem").write_bytes(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(Path(tmp) / "cert.pem", Path(tmp) / "key.pem")
    return cert_pem.decode(), context


_RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<timestamp>\S+) (?P<hostname>\S{1,255}) (?P<app>\S{1,48}) (?P<procid>\S{1,128}) "
    r"(?P<msgid>\S{1,32}) (?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: \ufeff(?P<msg>.*))?$",
    re.S,
)
_SD_PARAM = re.compile(r'(\w+)="((?:[^"\\\]]|\\.)*)"')


class SyslogTlsReceiver(Receiver):
    """An RFC 5425 listener: TLS, octet-counted frames, each an RFC 5424 message."""

    def __init__(self) -> None:
        super().__init__()
        self.ca_pem, self._tls = self_signed_tls()
        self.messages: list[dict[str, Any]] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = free_port()

    async def start(self) -> SyslogTlsReceiver:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port, ssl=self._tls)
        return self

    async def stop(self) -> None:
        await self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def drop_connections(self) -> None:
        """Close every client connection, as a restarting syslog server would."""
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await asyncio.sleep(0.05)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                length = await reader.readuntil(b" ")
                if not length[:-1].isdigit():
                    self.rejections.append(f"bad frame length {length!r}")
                    return
                frame = await reader.readexactly(int(length[:-1]))
                self._message(frame.decode())
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    def _message(self, text: str) -> None:
        match = _RFC5424.match(text)
        if match is None:
            self.rejections.append(f"not RFC 5424: {text[:80]!r}")
            return
        message = match.groupdict()
        sd_id = message["sd"][1:].split(" ", 1)[0]
        params = {
            k: v.replace('\\"', '"').replace("\\]", "]").replace("\\\\", "\\")
            for k, v in _SD_PARAM.findall(message["sd"])
        }
        message.update(sd_id=sd_id, params=params)
        self.messages.append(message)
        msg = message["msg"] or ""
        self.received.append(
            json.loads(msg)
            if msg.startswith("{")
            else {"id": params.get("id"), "cef": msg, "sequence": int(params.get("seq", 0))}
        )
