"""Log streams send to public addresses only, unless the operator allows more (no SSRF).

Refused when a stream is configured — every form of an address the resolver accepts — and again
at every connection, on the addresses a name resolves to, before anything is sent.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from audit.relay.sinks import DestinationPolicy, Rejected
from scim_server.app import create_app
from scim_server.services.organizations import create_organization
from scim_server.settings import Settings
from scim_server.storage.engine import Database
from tests.support.credentials import admin_key, api_client
from tests.support.receivers import Served, SyslogTlsReceiver, WebhookReceiver

from .conftest import ADMIN, WEBHOOK_SECRET, create_stream, seed, service, stage, stream_row

STRICT = DestinationPolicy()

#: (URL, what the refusal says the address is): loopback, metadata, private networks, and the
#: spellings of them a resolver reads as addresses.
REFUSED = [
    ("http://127.0.0.1:8080/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://siem.localhost/hook", "loopback"),
    ("http://LOCALHOST./hook", "loopback"),
    ("http://127.0.0.1./hook", "loopback"),
    ("http://2130706433/hook", "loopback"),
    ("http://0x7f.1/hook", "loopback"),
    ("http://0177.0.0.1/hook", "loopback"),
    ("http://127.1/hook", "loopback"),
    ("http://%31%32%37.0.0.1/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://[::ffff:7f00:1]/hook", "loopback"),
    ("http://[::127.0.0.1]/hook", "loopback"),
    ("http://[64:ff9b::127.0.0.1]/hook", "loopback"),
    ("http://[2002:7f00:1::]/hook", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
    ("http://0xa9fea9fe/", "cloud metadata"),
    ("http://[fd00:ec2::254]/", "cloud metadata"),
    ("http://169.254.1.1/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://10.0.0.5/", "private"),
    ("http://172.16.3.4/", "private"),
    ("http://192.168.1.10/", "private"),
    ("http://[::ffff:192.168.1.10]/", "private"),
    ("http://[fd12:3456::1]/", "private"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://0.0.0.1/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.1/", "reserved"),
]


@asynccontextmanager
async def _admin_api(tmp_path: Path, **env: str) -> AsyncIterator[httpx.AsyncClient]:
    """The real server app with ``SCIMTRAIL_…`` settings ``env``, and an admin's API client."""
    environ = {f"SCIMTRAIL_{name.upper()}": value for name, value in env.items()}
    settings = Settings.from_env(environ, database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", relay="off")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await create_organization(app.state.db, "acme")
        async with api_client(app, await admin_key(app.state.db, "acme")) as api:
            yield api


def _webhook(url: str, name: str = "siem") -> dict[str, Any]:
    return {"type": "webhook", "name": name, "config": {"url": url, "secret": WEBHOOK_SECRET}}


async def _refusals(api: httpx.AsyncClient, urls: list[str]) -> dict[str, str]:
    """URL → the refusal's message, for every URL the API refused to create a stream for."""
    refused = {}
    for i, url in enumerate(urls):
        response = await api.post("/api/v1/streams", json=_webhook(url, f"siem-{i}"))
        if response.status_code != 201:
            assert (response.status_code, response.json()["error"]) == (400, "invalid_config"), response.text
            refused[url] = response.json()["message"]
    return refused


async def test_private_and_internal_destinations_are_refused_when_created(tmp_path: Path) -> None:
    async with _admin_api(tmp_path) as api:
        refused = await _refusals(api, [url for url, _ in REFUSED])
        assert (await api.get("/api/v1/streams")).json() == {"streams": []}
    wrong = {url: refused.get(url, "accepted") for url, kind in REFUSED if kind not in refused.get(url, "")}
    assert wrong == {}
    for message in refused.values():
        assert message.startswith("config.url: destination refused: ")
    assert refused["http://2130706433/hook"].startswith(
        "config.url: destination refused: 2130706433 resolves to 127.0.0.1, a loopback address"
    )
    assert "a cloud metadata address (169.254.169.254)" in refused["http://[::ffff:169.254.169.254]/"]


async def test_public_addresses_and_names_are_accepted(tmp_path: Path) -> None:
    public = [
        "https://siem.acme.example/hook",  # a name: judged when the relay connects
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://[64:ff9b::808:808]/hook",  # NAT64 of a public address
    ]
    async with _admin_api(tmp_path) as api:
        assert await _refusals(api, public) == {}


async def test_every_sink_names_the_refused_field(tmp_path: Path) -> None:
    s3 = {"bucket": "audit", "endpoint_url": "http://169.254.169.254", "access_key_id": "a", "secret_access_key": "b"}
    streams = [
        ("config.url", "splunk_hec", {"url": "http://10.1.2.3:8088", "token": "t"}),
        ("config.url", "datadog", {"url": "http://[::1]:8126", "api_key": "k"}),
        ("config.endpoint_url", "s3", s3),
        ("config.host", "syslog", {"host": "192.168.0.7", "port": 6514}),
    ]
    async with _admin_api(tmp_path) as api:
        for field, type_name, config in streams:
            response = await api.post("/api/v1/streams", json={"type": type_name, "name": "siem", "config": config})
            assert response.status_code == 400, response.text
            assert response.json()["message"].startswith(f"{field}: destination refused: "), response.text


async def test_an_update_to_a_private_destination_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    async with _admin_api(tmp_path) as api:
        created = await api.post("/api/v1/streams", json=_webhook("https://siem.acme.example/hook"))
        stream_id = created.json()["id"]
        response = await api.patch(
            f"/api/v1/streams/{stream_id}", json={"config": {"url": "http://[::ffff:a9fe:a9fe]/"}}
        )
        assert (response.status_code, response.json()["error"]) == (400, "invalid_config")
        assert "cloud metadata" in response.json()["message"]
        assert (await api.get(f"/api/v1/streams/{stream_id}")).json()["config"][
            "url"
        ] == "https://siem.acme.example/hook"


async def test_the_operator_can_allow_private_networks(tmp_path: Path) -> None:
    allowed = [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/",
        "http://[fd12:3456::1]/",
        "http://100.64.0.1/",
    ]
    still_refused = [
        "http://169.254.169.254/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",  # Alibaba Cloud's metadata service, inside the CGNAT range
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
    ]
    async with _admin_api(tmp_path, streams_allow_private_networks="true") as api:
        refused = await _refusals(api, allowed + still_refused)
    assert sorted(refused) == sorted(still_refused)


async def test_the_operator_can_allow_listed_networks_only(tmp_path: Path) -> None:
    async with _admin_api(tmp_path, streams_allowed_networks="10.1.0.0/16, fd12:3456::/32") as api:
        refused = await _refusals(
            api,
            [
                "http://10.1.2.3/",
                "http://[::ffff:10.1.9.9]/",
                "http://[fd12:3456::1]/",
                "http://10.2.0.1/",
                "http://127.0.0.1/",
            ],
        )
    assert sorted(refused) == ["http://10.2.0.1/", "http://127.0.0.1/"]


# -- at delivery: names are resolved, and every address judged before connecting ------------


async def test_a_name_resolving_to_loopback_is_refused_at_delivery_without_contacting_it(db: Database) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    async with Served(receiver.app) as served:
        # Created while private networks were allowed; the operator has since turned that off.
        url = f"http://localhost:{served.port}/hook"
        stream_id = await create_stream(db, "webhook", {"url": url, "secret": WEBHOOK_SECRET})
        await seed(db, 3)
        assert await stage(db, destinations=STRICT).run_once() == {stream_id: 0}
        row = await stream_row(db, stream_id)
        test = await service(db, STRICT).send_test(ADMIN, stream_id)
        assert (receiver.requests, receiver.received) == (0, [])

        # The same receiver, by the same name, was there all along.
        assert await stage(db).run_once() == {stream_id: 4}
    assert (row.state, row.cursor) == ("failing", 0)
    assert re.search(
        r"^destination refused: localhost resolves to (127\.0\.0\.1|::1), a loopback address", row.last_error
    )
    assert isinstance(test, Rejected) and test.reason.startswith("destination refused: localhost resolves to")
    assert [e["sequence"] for e in receiver.received] == [1, 2, 3, 4]


async def test_a_syslog_host_resolving_to_loopback_is_refused_at_delivery(db: Database) -> None:
    syslog = await SyslogTlsReceiver().start()
    try:
        config = {"host": "localhost", "port": syslog.port, "ca_cert": syslog.ca_pem}
        stream_id = await create_stream(db, "syslog", config)
        await seed(db, 2)
        assert await stage(db, destinations=STRICT).run_once() == {stream_id: 0}
        assert syslog.received == []
        assert "localhost resolves to" in (await stream_row(db, stream_id)).last_error
        # Allowed, the connection goes to the judged address and TLS still verifies the name.
        assert await stage(db).run_once() == {stream_id: 3}
    finally:
        await syslog.stop()


async def test_listed_networks_are_allowed_at_delivery(db: Database) -> None:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    loopback = DestinationPolicy(
        allowed_networks=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    )
    async with Served(receiver.app) as served:
        stream_id = await create_stream(
            db, "webhook", {"url": f"http://localhost:{served.port}/hook", "secret": WEBHOOK_SECRET}
        )
        await seed(db, 1)
        assert await stage(db, destinations=loopback).run_once() == {stream_id: 2}
    assert [e["sequence"] for e in receiver.received] == [1, 2]
