"""The ``scimtrail`` command: serve, manage organisations and credentials, operate the audit log."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import audit
import structlog

from .protocol.errors import InvalidValue, ScimError
from .secret_key import resolve_secret_key
from .services import Caller
from .services.credentials import Credentials
from .services.organizations import create_organization, issue_scim_token
from .settings import Settings
from .storage.engine import Database, create_engine
from .storage.migrations import upgrade
from .storage.organizations import OrganizationRepository

__all__ = ["main"]


def _run(coro_factory: Callable[[Database], Coroutine[Any, Any, int]], settings: Settings) -> int:
    async def runner() -> int:
        db = Database(create_engine(settings.database_url))
        try:
            await upgrade(db.engine)
            return await coro_factory(db)
        finally:
            await db.dispose()

    return asyncio.run(runner())


def _org_create(args: argparse.Namespace, settings: Settings) -> int:
    async def go(db: Database) -> int:
        issued = await create_organization(db, args.slug, args.name, args.token_label)
        print(f"Organisation: {args.slug}")
        print(f"SCIM token ({issued.label}): {issued.token}")
        print("Store the token now: it is shown only once.")
        return 0

    return _run(go, settings)


async def _demo_token(db: Database, slug: str = "demo") -> str:
    """The demo organisation (created on first use) and a fresh token for this start."""
    from .services.organizations import OPERATOR

    async with db.write() as conn:
        org = await OrganizationRepository(conn).by_slug(slug)
    if org is None:
        return (await create_organization(db, slug, "Demo organisation", "demo")).token
    label = "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    async with db.write() as conn:
        return (await issue_scim_token(conn, org.id, slug, label, actor=OPERATOR)).token


def _settle_heap() -> None:
    """Tune the garbage collector for a long-running server, once everything is imported.

    The import-time heap (modules, schemas, SQLAlchemy metadata: a few hundred thousand objects)
    lives as long as the process; freezing it spares every full collection from re-scanning it.
    Requests allocate thousands of short-lived containers each: collecting the youngest generation
    every 20,000 allocations instead of every 700 lets most of them die before a collection sees
    them, instead of promoting the objects of requests in flight to generations scanned later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from .app import configure, create_app

    configure(settings)
    if args.demo:
        token = _run(lambda db: _demo_token(db), settings)  # type: ignore[arg-type,return-value]
        host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0", "::") else args.host
        base = f"http://{host}:{args.port}/scim/v2"
        print(
            "\n".join(
                [
                    "",
                    "scimtrail is starting with a demo organisation 'demo'.",
                    f"  SCIM base URL : {base}",
                    f"  Bearer token  : {token}",
                    f"  Database      : {settings.database_url}",
                    "",
                    "Try it:",
                    f"  curl -H 'Authorization: Bearer {token}' {base}/Users",
                    "",
                ]
            ),
            flush=True,
        )
    app = create_app(settings)
    _settle_heap()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    return 0


# ---- credentials: SCIM tokens, OAuth clients, admin and auditor accounts ------------------------


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"not an ISO 8601 timestamp: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _fmt(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


_CredentialAction = Callable[[Credentials, Caller, argparse.Namespace], Coroutine[Any, Any, None]]


def _credentials_command(action: _CredentialAction) -> Callable[[argparse.Namespace, Settings], int]:
    """A command handler running ``action`` as the operator in the organisation named by ``--org``."""

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        async def go(db: Database) -> int:
            credentials = Credentials(db)
            await action(credentials, await credentials.operator(args.org), args)
            return 0

        return _run(go, settings)

    return handler


async def _token_create(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    token = await svc.create_token(acting, args.label, _when(args.expires_at))
    print(f"SCIM token {token.label} ({token.prefix}) created, id {token.id}.")
    print(f"Token: {token.token}")
    print("Store the token now: it is shown only once.")


async def _token_list(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    rows = [(t.id, t.label, t.prefix, t.state, _fmt(t.created_at), _fmt(t.last_used_at), _fmt(t.expires_at))
            for t in await svc.list_tokens(acting)]
    _table(("ID", "LABEL", "PREFIX", "STATE", "CREATED", "LAST USED", "EXPIRES"), rows)


async def _token_revoke(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    token = await svc.revoke_token(acting, args.id)
    print(f"SCIM token {token.label} ({token.prefix}) revoked.")


async def _token_rotate(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    until = _when(args.expires_old_at)
    if args.grace is not None:
        until = datetime.now(UTC) + timedelta(seconds=args.grace)
    token = await svc.rotate_token(acting, args.id, old_expires_at=until, label=args.label)
    print(f"SCIM token {token.label} ({token.prefix}) created, id {token.id}; the old token stops at {_fmt(until or datetime.now(UTC))}.")
    print(f"Token: {token.token}")
    print("Store the token now: it is shown only once.")


async def _client_create(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    client = await svc.create_client(acting, args.label)
    print(f"OAuth client {client.label} created, id {client.id}.")
    print(f"client_id:     {client.client_id}")
    print(f"client_secret: {client.client_secret}")
    print("Store the secret now: it is shown only once. Token endpoint: POST /oauth/token (grant_type=client_credentials).")


async def _client_list(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    rows = [(c.id, c.label, c.client_id, c.state, _fmt(c.created_at), _fmt(c.last_used_at))
            for c in await svc.list_clients(acting)]
    _table(("ID", "LABEL", "CLIENT ID", "STATE", "CREATED", "LAST USED"), rows)


async def _client_rotate(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    client = await svc.rotate_client_secret(acting, args.id)
    print(f"OAuth client {client.label}: new client_secret: {client.client_secret}")
    print("The old secret no longer works. Store the new one now: it is shown only once.")


async def _client_revoke(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    client = await svc.revoke_client(acting, args.id)
    print(f"OAuth client {client.label} revoked; its access tokens no longer work.")


async def _admin_create(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    account = await svc.create_account(acting, args.email, args.role)
    assert account.key is not None
    print(f"{account.role.capitalize()} account {account.email} created in {acting.organization}, id {account.id}.")
    print(f"API key: {account.key.key}")
    print("Store the key now: it is shown only once. Use it as 'Authorization: Bearer <key>' on /api/v1.")


async def _admin_list(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    _table(("ID", "EMAIL", "ROLE", "CREATED"),
           [(a.id, a.email, a.role, _fmt(a.created_at)) for a in await svc.list_accounts(acting)])


def _add_credential_commands(sub: Any) -> None:
    def command(group: Any, name: str, help: str, action: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, help=help)
        parser.add_argument("--org", required=True, metavar="SLUG", help="the organisation")
        parser.set_defaults(handler=_credentials_command(action))
        return parser

    token = sub.add_parser("token", help="SCIM bearer tokens").add_subparsers(dest="token_command", required=True)
    create = command(token, "create", "create a token and print it (once)", _token_create)
    create.add_argument("--label", required=True)
    create.add_argument("--expires-at", default=None, help="ISO 8601 time when the token stops working")
    command(token, "list", "list tokens (never their secrets)", _token_list)
    command(token, "revoke", "revoke a token at once", _token_revoke).add_argument("id")
    rotate = command(token, "rotate", "issue a replacement; the old token works until the grace period ends", _token_rotate)
    rotate.add_argument("id")
    until = rotate.add_mutually_exclusive_group()
    until.add_argument("--grace", type=int, default=None, metavar="SECONDS", help="how long the old token keeps working")
    until.add_argument("--expires-old-at", default=None, help="ISO 8601 time when the old token stops")
    rotate.add_argument("--label", default=None, help="the new token's label (default: the old one's)")

    client = sub.add_parser("oauth-client", help="OAuth 2.0 clients (client credentials grant)").add_subparsers(
        dest="client_command", required=True
    )
    command(client, "create", "create a client and print its secret (once)", _client_create).add_argument(
        "--label", required=True
    )
    command(client, "list", "list clients (never their secrets)", _client_list)
    command(client, "rotate-secret", "replace a client's secret", _client_rotate).add_argument("id")
    command(client, "revoke", "revoke a client and its access tokens", _client_revoke).add_argument("id")

    admin = sub.add_parser("admin", help="admin and auditor accounts").add_subparsers(dest="admin_command", required=True)
    create = command(admin, "create", "create an account and print its API key (once)", _admin_create)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=("admin", "auditor"), default="admin")
    command(admin, "list", "list accounts", _admin_list)


def _write_metrics(path: str) -> None:
    """The relay's counters, replaced whole (a reader never sees half a file)."""
    partial = f"{path}.partial"
    with open(partial, "wb") as handle:
        handle.write(audit.relay_metrics_exposition())
    os.replace(partial, path)


async def _write_metrics_forever(path: str, interval: float = 1.0) -> None:
    while True:
        try:
            _write_metrics(path)
        except OSError as exc:
            structlog.get_logger("scimtrail").warning("relay metrics not written", path=path, error=str(exc))
        await asyncio.sleep(interval)


def _relay(args: argparse.Namespace, settings: Settings) -> int:
    """The relay as its own process: seals the outbox and delivers log streams while it holds the lease."""
    from .app import configure, stream_destinations

    configure(settings)
    key = resolve_secret_key(settings)
    destinations = stream_destinations(settings)

    async def go(db: Database) -> int:
        relay = audit.Relay(
            db,
            secret_key=key,
            stages=[audit.DeliveryStage(db, secret_key=key, destinations=destinations)],
            # Started by a server, which prunes the outbox itself: this process writes only the
            # sealed log's file, never the one the server writes (see scim_server.relay_process).
            prune_interval=None if args.parent_pid else 1.0,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await relay.start()
        if args.metrics_file:
            metrics = asyncio.create_task(_write_metrics_forever(args.metrics_file), name="relay-metrics")
        try:
            if args.parent_pid:
                # Orphaned (the server was killed): stop, sealing what is pending first.
                while os.getppid() == args.parent_pid and not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.5)
            else:
                await stop.wait()
        finally:
            await relay.stop()
            if args.metrics_file:
                metrics.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await metrics
                _write_metrics(args.metrics_file)
        return 0

    try:
        return _run(go, settings)
    except KeyboardInterrupt:
        return 0


def _audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    async def go(db: Database) -> int:
        report = await audit.verify(db, args.org, secret_key=resolve_secret_key(settings))
        if report.ok:
            print(f"ok: {report.organization}: {report.checked} events and {report.checkpoints} checkpoints verified")
            return 0
        print(
            f"BROKEN: {report.organization}: first broken sequence {report.first_broken_sequence}: {report.reason}",
            file=sys.stderr,
        )
        return 1

    return _run(go, settings)


class _ProgressBar:
    """A one-line progress bar on standard error (only when it is a terminal, or when asked)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.done = 0

    def __call__(self, count: int) -> None:
        self.done = count
        if self.enabled:
            width = 30
            fraction = min(count / self.total, 1.0) if self.total else 1.0
            bar = "#" * int(width * fraction)
            sys.stderr.write(f"\r[{bar:<{width}}] {count:,}/{self.total:,} events")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _audit_export(args: argparse.Namespace, settings: Settings) -> int:
    params: dict[str, list[str]] = {}
    for name in ("since", "until", "range", "category", "actor", "target", "q"):
        value = getattr(args, name)
        if value:
            params[name] = [value]
    if args.action:
        params["action"] = list(args.action)
    try:
        flt = audit.EventFilter.from_params(params)
    except audit.QueryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def go(db: Database) -> int:
        total = await audit.count_events(db, args.org, flt)
        bar = _ProgressBar(total, enabled=args.progress or sys.stderr.isatty())
        out = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")  # noqa: SIM115
        try:
            async for chunk in audit.export_events(
                db, args.org, args.format, flt, actor=audit.Actor("operator", "cli"), progress=bar
            ):
                out.write(chunk)
        finally:
            if out is not sys.stdout.buffer:
                out.close()
            bar.finish()
        print(f"exported {bar.done:,} events", file=sys.stderr)
        return 0

    return _run(go, settings)


def _add_audit_commands(sub: Any) -> None:
    relay = sub.add_parser("relay", help="run the audit relay (sealing and log-stream delivery) on its own")
    relay.add_argument(
        "--parent-pid", type=int, default=None, metavar="PID",
        help="started by the server with this pid: stop when it does, and leave outbox pruning to it",
    )
    relay.add_argument(
        "--metrics-file", default=None, metavar="PATH",
        help="write the relay's Prometheus counters here every second (the server serves them at /metrics)",
    )
    relay.set_defaults(handler=_relay)

    group = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_command", required=True)
    verify = group.add_parser("verify", help="recompute an organisation's hash chain and check its checkpoints")
    verify.add_argument("--org", required=True)
    verify.set_defaults(handler=_audit_verify)

    export = group.add_parser("export", help="export an organisation's audit events")
    export.add_argument("--org", required=True)
    export.add_argument("--format", choices=sorted(audit.EXPORT_FORMATS), default="ndjson")
    export.add_argument("--output", "-o", default="-", help="file to write ('-' for standard output)")
    export.add_argument("--since")
    export.add_argument("--until")
    export.add_argument("--range", choices=["today", "7d", "30d", "90d"])
    export.add_argument("--category")
    export.add_argument("--action", action="append")
    export.add_argument("--actor")
    export.add_argument("--target")
    export.add_argument("--q", help="free-text search")
    export.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    export.set_defaults(handler=_audit_export)


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValue(f"{what} is not valid JSON: {exc.msg}") from None


def _stream(args: argparse.Namespace, settings: Settings) -> int:
    """Log-stream management from the command line, through the same service as the admin API."""
    from .app import stream_destinations

    key = resolve_secret_key(settings)
    destinations = stream_destinations(settings)

    async def go(db: Database) -> int:
        async with db.read() as conn:
            if await OrganizationRepository(conn).by_slug(args.org) is None:
                raise InvalidValue(f"There is no organisation {args.org!r}.")
        service = audit.StreamService(db, audit.SecretBox(key), destinations=destinations)
        caller = audit.Caller(organization=args.org, actor=audit.Actor("operator", "cli"), role="admin")
        command = args.stream_command
        try:
            if command == "list":
                _print_json([audit.render_stream(s) for s in await service.list_streams(caller)])
            elif command == "show":
                _print_json(audit.render_stream(await service.get(caller, args.id)))
            elif command == "create":
                body = {"type": args.type, "name": args.name, "config": _json_arg(args.config, "--config")}
                if args.format:
                    body["format"] = args.format
                if args.filter:
                    body["filter"] = _json_arg(args.filter, "--filter")
                _print_json(audit.render_stream(await service.create(caller, body)))
            elif command == "update":
                body = {}
                for name in ("name", "format"):
                    if getattr(args, name):
                        body[name] = getattr(args, name)
                for name in ("config", "filter"):
                    if getattr(args, name):
                        body[name] = _json_arg(getattr(args, name), f"--{name}")
                _print_json(audit.render_stream(await service.update(caller, args.id, body)))
            elif command in ("pause", "resume"):
                method = service.pause if command == "pause" else service.resume
                _print_json(audit.render_stream(await method(caller, args.id)))
            elif command == "replay":
                _print_json(audit.render_stream(await service.replay(caller, args.id, {"from_sequence": args.from_sequence})))
            elif command == "test":
                outcome = await service.send_test(caller, args.id)
                print(f"{type(outcome).__name__.lower()}: {getattr(outcome, 'reason', 'the receiver accepted the test event')}")
                return 0 if type(outcome).__name__ == "Delivered" else 1
            elif command == "delete":
                await service.delete(caller, args.id)
                print(f"deleted {args.id}")
        except audit.StreamError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 2
        return 0

    return _run(go, settings)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _add_stream_commands(sub: Any) -> None:
    group = sub.add_parser("stream", help="log streams to SIEMs (webhook, splunk_hec, datadog, s3, syslog)")
    commands = group.add_subparsers(dest="stream_command", required=True)

    def command(name: str, help: str, *, with_id: bool = True) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help)
        parser.add_argument("--org", required=True)
        if with_id:
            parser.add_argument("id", help="the stream's id")
        parser.set_defaults(handler=_stream)
        return parser

    command("list", "list streams with their status (state, cursor, lag, last error, dead letters)", with_id=False)
    command("show", "one stream and its status")
    create = command("create", "create a stream; secrets in --config are stored encrypted, never shown", with_id=False)
    create.add_argument("--type", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--config", required=True, help='JSON, e.g. \'{"url": "https://…", "secret": "whsec_…"}\'')
    create.add_argument("--format", choices=["native", "ocsf", "cef"])
    create.add_argument("--filter", help='JSON, e.g. \'{"categories": ["scim_provisioning"]}\'')
    update = command("update", "change a stream's name, config (merged), format or filter")
    update.add_argument("--name")
    update.add_argument("--config")
    update.add_argument("--format", choices=["native", "ocsf", "cef"])
    update.add_argument("--filter")
    command("pause", "stop delivering (the backlog is kept)")
    command("resume", "deliver again from where the stream stopped")
    replay = command("replay", "deliver again from a sequence")
    replay.add_argument("--from-sequence", type=int, required=True)
    command("test", "send one test event now")
    command("delete", "delete the stream")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scimtrail", description="SCIM 2.0 provisioning with an audit trail.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="create a demo organisation and print a token")
    serve.set_defaults(handler=_serve)

    org = sub.add_parser("org", help="organisations").add_subparsers(dest="org_command", required=True)
    create = org.add_parser("create", help="create an organisation and print its first SCIM token")
    create.add_argument("slug")
    create.add_argument("--name", default=None)
    create.add_argument("--token-label", default="default")
    create.set_defaults(handler=_org_create)

    _add_credential_commands(sub)
    _add_audit_commands(sub)
    _add_stream_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return int(args.handler(args, settings))
    except ScimError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
