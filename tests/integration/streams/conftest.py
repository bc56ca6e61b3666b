"""Fixtures for log-stream tests: a migrated database, sealed events, streams, fast settings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

import audit
from audit.access import Caller
from audit.backends import seal_pending
from audit.relay.delivery import DeliverySettings, DeliveryStage
from audit.relay.sinks import DestinationPolicy
from audit.streams import SecretBox, StreamService
from audit.streams.tables import StreamRow
from scim_server.storage.engine import Database

SECRET_KEY = "streams-test-server-key"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ADMIN = Caller("acme", audit.Actor("admin", "ada@acme.example"), "admin")
#: The test receivers listen on 127.0.0.1, which the default policy refuses: tests opt in.
LOCAL = DestinationPolicy(allow_private=True)

#: Quick enough for tests: retries within tenths of a second, a short request timeout.
FAST = DeliverySettings(
    batch_size=100,
    poll_interval=0.05,
    refresh_interval=0.1,
    request_timeout=1.0,
    backoff_base=0.05,
    backoff_cap=0.3,
    disable_after=3600.0,
)


async def seed(
    db: Database, count: int, *, organization: str = "acme", actions: Sequence[str] = ("user.provisioned",)
) -> None:
    """Record ``count`` events (cycling through ``actions``) and seal them, as the relay would."""
    drafts = [
        audit.EventDraft(
            organization=organization,
            action=actions[i % len(actions)],
            actor=audit.Actor("scim_token", "okta-prod"),
            targets=(audit.Target("user", f"user{i}@acme.example"),),
            context=audit.RequestContext(ip="203.0.113.7", user_agent="Okta SCIM Client", request_id=f"req_{i}"),
            metadata={"changed": ["active"]},
        )
        for i in range(count)
    ]
    async with db.write() as conn:
        await audit.record_many(conn, drafts)
    async with db.write() as conn:
        while (await seal_pending(conn, limit=1000)).count:
            pass


def service(db: Database, destinations: DestinationPolicy = LOCAL) -> StreamService:
    return StreamService(db, SecretBox(SECRET_KEY), request_timeout=FAST.request_timeout, destinations=destinations)


async def create_stream(db: Database, type_name: str, config: dict[str, Any], **fields: Any) -> str:
    body = {"type": type_name, "name": fields.pop("name", f"{type_name.replace('_', '-')}-test"), "config": config}
    body.update(fields)
    status = await service(db).create(fields.pop("caller", ADMIN), body)
    return status.stream.id


async def stream_row(db: Database, stream_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(StreamRow.__table__).where(StreamRow.__table__.c.id == stream_id))).one()


def stage(db: Database, settings: DeliverySettings = FAST, destinations: DestinationPolicy = LOCAL) -> DeliveryStage:
    return DeliveryStage(db, secret_key=SECRET_KEY, settings=settings, destinations=destinations)
