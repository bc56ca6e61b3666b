"""``scimtrail stream``: log streams to SIEMs, through the same service as the admin API."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine
from typing import Any

import audit

from ..app import stream_destinations
from ..protocol.errors import InvalidValue
from ..secret_key import resolve_secret_key
from ..settings import Settings
from ..storage.engine import Database
from ..storage.organizations import OrganizationRepository
from ._shared import (
    Commands,
    Handler,
    add_command,
    add_group,
    add_json,
    add_org,
    json_arg,
    print_json,
    table,
    with_database,
)

__all__ = ["register"]

_FORMATS = ("native", "ocsf", "cef")

StreamAction = Callable[[audit.StreamService, audit.Caller, argparse.Namespace], Coroutine[Any, Any, int]]


def register(commands: Commands) -> None:
    group = add_group(commands, "stream", "log streams to SIEMs (webhook, splunk_hec, datadog, s3, syslog)")

    def command(name: str, help: str, action: StreamAction, *, with_id: bool = True) -> argparse.ArgumentParser:
        parser = add_command(group, name, help, _as_admin(action))
        add_org(parser)
        if with_id:
            parser.add_argument("id", help="the stream's id")
        return parser

    add_json(
        command(
            "list",
            "list streams with their status (state, cursor, lag, last error, dead letters)",
            _list,
            with_id=False,
        )
    )
    add_json(command("show", "one stream and its status", _show))
    create = command(
        "create", "create a stream; secrets in --config are stored encrypted, never shown", _create, with_id=False
    )
    create.add_argument("--type", required=True, help="webhook, splunk_hec, datadog, s3 or syslog")
    create.add_argument("--name", required=True, help="3-63 characters of a-z, 0-9 and '-'")
    create.add_argument("--config", required=True, help='JSON, e.g. \'{"url": "https://…", "secret": "whsec_…"}\'')
    create.add_argument("--format", choices=_FORMATS, help="the events' wire format (default: native)")
    create.add_argument("--filter", help='JSON, e.g. \'{"categories": ["scim_provisioning"]}\' (default: every event)')
    update = command("update", "change a stream's name, config (merged), format or filter", _update)
    update.add_argument("--name", help="a new name")
    update.add_argument("--config", help="JSON merged into the stream's config")
    update.add_argument("--format", choices=_FORMATS, help="a new wire format")
    update.add_argument("--filter", help="JSON, replacing the stream's filter")
    command("pause", "stop delivering (the backlog is kept)", _pause)
    command("resume", "deliver again from where the stream stopped", _resume)
    replay = command("replay", "deliver again from a sequence", _replay)
    replay.add_argument("--from-sequence", type=int, required=True, help="the first sequence to deliver again")
    command("test", "send one test event now", _test)
    command("delete", "delete the stream", _delete)


def _as_admin(action: StreamAction) -> Handler:
    """A handler running ``action`` as the operator, with an admin's rights, in ``--org``."""

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        key = resolve_secret_key(settings)
        destinations = stream_destinations(settings)

        async def go(db: Database) -> int:
            async with db.read() as conn:
                if await OrganizationRepository(conn).by_slug(args.org) is None:
                    raise InvalidValue(f"There is no organisation {args.org!r}.")
            service = audit.StreamService(db, audit.SecretBox(key), destinations=destinations)
            caller = audit.Caller(organization=args.org, actor=audit.Actor("operator", "cli"), role="admin")
            return await action(service, caller, args)

        return with_database(settings, go)

    return handler


async def _list(service: audit.StreamService, caller: audit.Caller, args: argparse.Namespace) -> int:
    streams = [audit.render_stream(s) for s in await service.list_streams(caller)]
    if args.json:
        print_json(streams)
        return 0
    table(
        ("ID", "NAME", "TYPE", "FORMAT", "STATE", "CURSOR", "LAG", "LAST SUCCESS", "DEAD LETTERS", "LAST ERROR"),
        [
            (
                s["id"],
                s["name"],
                s["type"],
                s["format"],
                s["state"],
                s["status"]["cursor"],
                s["status"]["lag_events"],
                s["status"]["last_success_at"] or "-",
                s["status"]["dead_letters"],
                s["status"]["last_error"] or "-",
            )
            for s in streams
        ],
    )
    return 0


async def _show(service: audit.StreamService, caller: audit.Caller, args: argparse.Namespace) -> int:
    stream = audit.render_stream(await service.get(caller, args.id))
    if args.json:
        print_json(stream)
        return 0
    status = stream.pop("status")
    # One field a line; config and filter stay JSON, as they are given to create and update.
    rows = [(name, _cell(value)) for name, value in {**stream, **status}.items()]
    table(("FIELD", "VALUE"), rows)
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


async def _create(service: audit.StreamService, caller: audit.Caller, args: argparse.Namespace) -> int:
    body = {"type": args.type, "name": args.name, "config": json_arg(args.config, "--config")}
    if args.format:
        body["format"] = args.format
    if args.filter:
        body["filter"] = json_arg(args.filter, "--filter")
    print_json(audit.render_stream(await service.create(caller, body)))
    return 0


async def _update(service: audit.StreamService, caller: audit.Caller, args: argparse.Namespace) -> int:
    body = {}
    for name in ("name", "format"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    for name in ("config", "filter"):
        if getattr(args, name):
            body[name] = json_arg(getattr(args, name), f"--{name}")
    print_json(audit.render_stream(await service.update(caller, args.id, body)))
    return 0


async def _pause(service: audit.StreamService, caller: audit.Caller, args: argparse.Namespace) -> int:
    print_json(audit.render_stream(await service.pause(caller, args.id)))
    return 0


async def _resume(service: audit.StreamService, caller: audit.Caller, args: argparse.Namespace) -> int:
    print_json(audit.render_stream(await service.resume(caller, args.id)))
    return 0


async def _replay(service: audit.StreamService, caller: audit.Caller, args: argparse.Namespace) -> int:
    print_json(audit.render_stream(await service.replay(caller, args.id, {"from_sequence": args.from_sequence})))
    return 0


async def _test(service: audit.StreamService, caller: audit.Caller, args: argparse.Namespace) -> int:
    outcome = await service.send_test(caller, args.id)
    print(f"{type(outcome).__name__.lower()}: {getattr(outcome, 'reason', 'the receiver accepted the test event')}")
    return 0 if type(outcome).__name__ == "Delivered" else 1


async def _delete(service: audit.StreamService, caller: audit.Caller, args: argparse.Namespace) -> int:
    await service.delete(caller, args.id)
    print(f"deleted {args.id}")
    return 0
