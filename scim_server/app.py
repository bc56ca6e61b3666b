"""The composition root: the one module that sees every package and wires them together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

import audit

from .api.admin import Guard, api_v1
from .api.errors import exception_handlers, page_exception_handlers
from .api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from .api.oauth import oauth_routes
from .api.scim import scim_routes
from .api.scim_auth import ScimAuthMiddleware
from .auth import Authenticator, RateLimiter
from .logs import configure_logging
from .metrics import exposition as http_metrics
from .relay_placement import ServerRelay
from .secret_key import resolve_secret_key
from .services import Provisioning
from .services.credentials import Credentials
from .settings import Settings
from .storage.engine import Database, create_engine
from .storage.migrations import upgrade

__all__ = ["build_relay", "create_app", "stream_destinations"]

_log = structlog.get_logger("scimtrail")

#: Discovery documents describe the server, not a tenant: readable without a credential.
_PUBLIC_SCIM_PATHS = ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas")


class _PublicOrAuthenticated:
    """Lets discovery through and sends everything else past the SCIM authenticator."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, limiter: RateLimiter, settings: Settings) -> None:
        self.public = app
        self.protected = ScimAuthMiddleware(app, authenticator, limiter, settings.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")[len(scope.get("root_path", "")) :] if scope["type"] == "http" else ""
        if scope["type"] == "http" and path.startswith(_PUBLIC_SCIM_PATHS) and scope["method"] == "GET":
            await self.public(scope, receive, send)
        else:
            await self.protected(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI application. Nothing connects until the lifespan starts."""
    settings = settings or Settings.from_env()
    db = Database(create_engine(settings.database_url))
    provisioning = Provisioning(db, audit_enabled=settings.audit_enabled)
    credentials = Credentials(db)
    authenticator = Authenticator(db)
    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
    guard = Guard(authenticator, limiter, settings.trusted_proxies)
    secret_key = resolve_secret_key(settings)
    destinations = stream_destinations(settings)
    relay = build_relay(db, settings, secret_key)

    scim = Starlette(
        routes=scim_routes(provisioning, settings),
        middleware=[
            Middleware(_PublicOrAuthenticated, authenticator=authenticator, limiter=limiter, settings=settings)
        ],
        exception_handlers=exception_handlers,
    )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        try:
            async with db.read() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            _log.warning("database not reachable")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    # Wherever settings.relay puts the sealer: this process, a child, or another operator's process.
    server_relay = ServerRelay(settings, db, relay)

    async def metrics(_: Request) -> Response:
        await audit.refresh_metrics(db)
        return Response(
            http_metrics() + audit.metrics_exposition(server_relay.metrics()), media_type=audit.METRICS_CONTENT_TYPE
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await upgrade(db.engine)
        await server_relay.start()
        _log.info("started", database=db.dialect, relay=str(settings.relay))
        try:
            yield
        finally:
            await server_relay.stop()
            await authenticator.aclose()
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Mount("/scim/v2", app=scim),
            *oauth_routes(credentials, authenticator, settings.oauth_token_ttl_seconds, settings.trusted_proxies),
            Mount(
                "/api/v1",
                app=api_v1(
                    credentials,
                    guard,
                    [
                        audit.audit_section(db, guard.authorize, prefix="/audit"),
                        audit.streams_section(
                            db,
                            secret_key=secret_key,
                            authorize=guard.authorize,
                            prefix="/streams",
                            destinations=destinations,
                        ),
                    ],
                ),
            ),
        ],
        middleware=[
            Middleware(RequestContextMiddleware),
            Middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
        # Whatever no mount answers (``/``, unknown paths): plain JSON or HTML, not a SCIM body.
        exception_handlers=page_exception_handlers,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.authenticator = authenticator
    return app


def build_relay(
    db: Database, settings: Settings, secret_key: str, *, prune_interval: float | None = 1.0
) -> audit.Relay:
    """The audit relay with its log-stream delivery stage: the one the server runs in-process and
    the one ``scimtrail relay`` runs (alone, or as the server's child) are built the same way."""
    delivery = audit.DeliveryStage(db, secret_key=secret_key, destinations=stream_destinations(settings))
    return audit.Relay(db, secret_key=secret_key, stages=[delivery], prune_interval=prune_interval)


def stream_destinations(settings: Settings) -> audit.DestinationPolicy:
    """Where log streams may send, for the admin API, the CLI and the relay alike."""
    return audit.DestinationPolicy(
        allow_private=settings.streams_allow_private_networks, allowed_networks=settings.streams_allowed_networks
    )


def configure(settings: Settings) -> None:
    configure_logging(settings.log_format, settings.log_level)
