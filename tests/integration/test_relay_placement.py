"""What the server runs for each ``SCIMTRAIL_RELAY`` placement besides the child (which
``tests/e2e/audit/test_log_file.py`` starts for real): its own relay, or none and, on SQLite,
the outbox pruner."""

from __future__ import annotations

import asyncio

import pytest

from scim_server.relay_placement import ServerRelay
from scim_server.settings import RelayPlacement, Settings
from scim_server.storage import Database


class _FakeRelay:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")


def _pruning() -> bool:
    return any(task.get_name() == "audit-outbox-pruner" for task in asyncio.all_tasks())


@pytest.mark.parametrize("placement", [RelayPlacement.INPROCESS, RelayPlacement.EXTERNAL, RelayPlacement.OFF])
async def test_what_the_server_runs_for_each_placement(
    db: Database, database_url: str, placement: RelayPlacement
) -> None:
    relay = _FakeRelay()
    server_relay = ServerRelay(Settings.from_env({}, database_url=database_url, relay=placement), db, relay)  # type: ignore[arg-type]
    await server_relay.start()
    try:
        assert relay.calls == (["start"] if placement is RelayPlacement.INPROCESS else [])
        # With the sealer in another process (or none), a SQLite server prunes the outbox itself;
        # PostgreSQL's sealer deletes what it sealed.
        assert _pruning() == (placement is not RelayPlacement.INPROCESS and db.dialect == "sqlite")
        # This process's own relay counters are the ones /metrics serves.
        assert server_relay.metrics() is None
    finally:
        await server_relay.stop()
    assert relay.calls == (["start", "stop"] if placement is RelayPlacement.INPROCESS else [])
    assert not _pruning()
