"""What every command group shares: registration, the database, argument parsing and output.

Output follows one convention: lists are tables for people and ``--json`` for machines; a secret
is printed only when it is made; a mistake the operator can fix is one ``error:`` line on
standard error and exit status 2 (translated in ``scim_server.cli._main``, once).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

from ..protocol.errors import InvalidValue
from ..services import Caller
from ..services.credentials import Credentials
from ..settings import Settings
from ..storage.engine import Database, create_engine
from ..storage.migrations import upgrade

__all__ = [
    "Commands",
    "Handler",
    "HelpFormatter",
    "add_command",
    "add_group",
    "add_json",
    "add_org",
    "as_operator",
    "json_arg",
    "moment",
    "print_json",
    "records",
    "table",
    "when",
    "with_database",
]

_T = TypeVar("_T")

#: What ``add_subparsers()`` returns; argparse names the class privately.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: A subcommand's handler: the parsed arguments and the settings in, the exit status out.
Handler = Callable[[argparse.Namespace, Settings], int]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default, except where there is none to show (a flag, an
    option that is absent unless given); argparse lists an option's choices beside its name."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or action.required:
            return action.help
        return super()._get_help_string(action)


def add_group(commands: Commands, name: str, help: str) -> Commands:
    """A command group (``scimtrail token …``) whose subcommands are required."""
    group = commands.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)
    return group.add_subparsers(dest=f"{name.replace('-', '_')}_command", metavar="COMMAND", required=True)


def add_command(commands: Commands, name: str, help: str, handler: Handler) -> argparse.ArgumentParser:
    """A subcommand run by ``handler``."""
    parser = commands.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


def add_org(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", required=True, metavar="SLUG", help="the organisation")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for machines instead of a table")


# ---- running --------------------------------------------------------------------------------------


def with_database(settings: Settings, go: Callable[[Database], Coroutine[Any, Any, _T]]) -> _T:
    """``go(db)`` on the settings' database, migrated first, as the server would find it."""

    async def runner() -> _T:
        db = Database(create_engine(settings.database_url))
        try:
            await upgrade(db.engine)
            return await go(db)
        finally:
            await db.dispose()

    return asyncio.run(runner())


OperatorAction = Callable[[Credentials, Caller, argparse.Namespace], Coroutine[Any, Any, None]]


def as_operator(action: OperatorAction) -> Handler:
    """A handler running ``action`` as the operator in the organisation named by ``--org``."""

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        async def go(db: Database) -> int:
            credentials = Credentials(db)
            await action(credentials, await credentials.operator(args.org), args)
            return 0

        return with_database(settings, go)

    return handler


# ---- arguments ----------------------------------------------------------------------------------


def when(value: str | None) -> datetime | None:
    """An ISO 8601 time from the command line; UTC when it names no zone."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"not an ISO 8601 timestamp: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidValue(f"{what} is not valid JSON: {exc.msg}") from None


# ---- output -------------------------------------------------------------------------------------


def moment(value: datetime | None) -> str:
    """A time in a table cell: to the second, in UTC; ``-`` for none."""
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value else "-"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Columns padded to their widest cell, two spaces apart: what ``grep`` and ``awk`` expect."""
    cells = [[str(c) for c in row] for row in (header, *rows)]
    widths = [max(len(c) for c in column) for column in zip(*cells, strict=True)]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


#: The view fields that hold a secret, present only when one is shown (once, at creation).
_SECRETS = ("token", "client_secret", "key")


def records(views: Iterable[Any]) -> list[dict[str, Any]]:
    """Service views as JSON objects with the admin API's fields and times (ISO 8601, UTC as
    ``Z``); secrets never (a list carries none)."""
    out = []
    for view in views:
        data = {
            name: value.isoformat().replace("+00:00", "Z") if isinstance(value, datetime) else value
            for name, value in dataclasses.asdict(view).items()
            if name not in _SECRETS
        }
        out.append(data)
    return out
