"""``scimtrail audit``: verify an organisation's hash chain, export its events."""

from __future__ import annotations

import argparse
import sys

import audit

from ..secret_key import resolve_secret_key
from ..settings import Settings
from ..storage.engine import Database
from ._shared import Commands, add_command, add_group, add_org, with_database

__all__ = ["register"]

#: The presets of the audit API's ``range`` parameter.
_RANGES = ("today", "7d", "30d", "90d")


def register(commands: Commands) -> None:
    group = add_group(commands, "audit", "the audit log")

    verify = add_command(group, "verify", "recompute an organisation's hash chain and check its checkpoints", _verify)
    add_org(verify)

    export = add_command(group, "export", "export an organisation's audit events", _export)
    add_org(export)
    export.add_argument("--format", choices=sorted(audit.EXPORT_FORMATS), default="ndjson", help="the file format")
    export.add_argument("--output", "-o", default="-", metavar="FILE", help="file to write ('-' for standard output)")
    export.add_argument("--since", help="ISO 8601 time of the earliest event")
    export.add_argument("--until", help="ISO 8601 time the events end before")
    export.add_argument("--range", choices=_RANGES, help="a preset period up to now, instead of --since")
    export.add_argument("--category", help="only this category, e.g. scim_provisioning")
    export.add_argument("--action", action="append", help="only this action, e.g. user.provisioned (repeatable)")
    export.add_argument("--actor", help="only events by this actor's name")
    export.add_argument("--target", help="only events about this target's name")
    export.add_argument("--q", help="free-text search")
    export.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")


def _verify(args: argparse.Namespace, settings: Settings) -> int:
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

    return with_database(settings, go)


def _export(args: argparse.Namespace, settings: Settings) -> int:
    params: dict[str, list[str]] = {}
    for name in ("since", "until", "range", "category", "actor", "target", "q"):
        value = getattr(args, name)
        if value:
            params[name] = [value]
    if args.action:
        params["action"] = list(args.action)
    # Checked before the database is opened: a filter mistake is one line, at once.
    flt = audit.EventFilter.from_params(params)

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

    return with_database(settings, go)


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
