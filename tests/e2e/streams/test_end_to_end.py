"""Through the real server: SCIM writes reach a stream created with the admin API, and a slow
receiver on another stream holds up neither the healthy stream nor the SCIM API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.support.receivers import Fault, Served, WebhookReceiver
from tests.support.server import LiveServer

from .conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.slow

_USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


async def test_scim_changes_stream_out_while_a_slow_stream_waits(tmp_path: Path) -> None:
    healthy, slow = WebhookReceiver(WEBHOOK_SECRET), WebhookReceiver(WEBHOOK_SECRET)
    slow.fail_next(*[Fault(0, delay=3.0)] * 100)
    server = LiveServer(
        f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
        # The receivers listen on 127.0.0.1: allowed as the operator of an internal SIEM would.
        extra_env={"SCIMTRAIL_SECRET_KEY": "e2e-secret-key", "SCIMTRAIL_STREAMS_ALLOW_PRIVATE_NETWORKS": "true"},
    )
    async with Served(healthy.app) as healthy_server, Served(slow.app) as slow_server:
        scim_token = server.create_org("acme")
        admin_key = server.admin_key("acme", "ada@acme.example")
        await asyncio.to_thread(server.start)
        try:
            admin = httpx.AsyncClient(base_url=server.origin, headers={"authorization": f"Bearer {admin_key}"})
            scim = httpx.AsyncClient(base_url=server.base_url, headers={"authorization": f"Bearer {scim_token}"})
            async with admin, scim:
                for name, served in (("siem", healthy_server), ("slow-siem", slow_server)):
                    config = {"url": f"{served.url}/hook", "secret": WEBHOOK_SECRET}
                    created = await admin.post(
                        "/api/v1/streams", json={"type": "webhook", "name": name, "config": config}
                    )
                    assert created.status_code == 201, created.text
                stream_id = created.json()["id"]
                latencies = []
                for i in range(20):
                    started = time.perf_counter()
                    response = await scim.post(
                        "/Users", json={"schemas": [_USER_SCHEMA], "userName": f"user{i}@acme.example", "active": True}
                    )
                    latencies.append(time.perf_counter() - started)
                    assert response.status_code == 201, response.text
                deadline = time.monotonic() + 10
                while sum(e["action"] == "user.provisioned" for e in healthy.unique()) < 20:
                    assert time.monotonic() < deadline, "events did not reach the healthy stream"
                    await asyncio.sleep(0.05)
                status = (await admin.get(f"/api/v1/streams/{stream_id}")).json()
                metrics = (await admin.get(f"{server.origin}/metrics")).text
        finally:
            await asyncio.to_thread(server.stop)
    assert max(latencies) < 1.0, f"a SCIM write took {max(latencies):.2f} s while a stream was slow"
    provisioned = [e for e in healthy.unique() if e["action"] == "user.provisioned"]
    assert [e["targets"][0]["name"] for e in provisioned] == [f"user{i}@acme.example" for i in range(20)]
    sequences = [e["sequence"] for e in healthy.unique()]
    assert sequences == sorted(sequences) == list(range(1, len(sequences) + 1))
    assert status["name"] == "slow-siem" and status["status"]["lag_events"] > 0
    assert f'scimtrail_stream_lag_events{{stream="{stream_id}"}}' in metrics
