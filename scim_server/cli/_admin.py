"""``scimtrail admin``: admin and auditor accounts, each with an API key for ``/api/v1``."""

from __future__ import annotations

import argparse

from ..services import Caller
from ..services.credentials import Credentials
from ._shared import (
    Commands,
    add_command,
    add_group,
    add_json,
    add_org,
    as_operator,
    moment,
    print_json,
    records,
    table,
)

__all__ = ["register"]


def register(commands: Commands) -> None:
    admin = add_group(commands, "admin", "admin and auditor accounts")

    create = add_command(admin, "create", "create an account and print its API key (once)", as_operator(_create))
    add_org(create)
    create.add_argument("--email", required=True, help="the account's email address, unique in the organisation")
    create.add_argument(
        "--role",
        choices=("admin", "auditor"),
        default="admin",
        help="admins manage everything; auditors read the audit log",
    )

    listing = add_command(admin, "list", "list accounts", as_operator(_list))
    add_org(listing)
    add_json(listing)


async def _create(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    account = await svc.create_account(acting, args.email, args.role)
    assert account.key is not None  # a new account's key is shown once, here
    print(f"{account.role.capitalize()} account {account.email} created in {acting.organization}, id {account.id}.")
    print(f"API key: {account.key.key}")
    print("Store the key now: it is shown only once. Use it as 'Authorization: Bearer <key>' on /api/v1.")


async def _list(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    accounts = await svc.list_accounts(acting)
    if args.json:
        print_json(records(accounts))
        return
    table(("ID", "EMAIL", "ROLE", "CREATED"), [(a.id, a.email, a.role, moment(a.created_at)) for a in accounts])
