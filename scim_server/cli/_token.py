"""``scimtrail token``: an organisation's SCIM bearer tokens."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

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
    when,
)

__all__ = ["register"]


def register(commands: Commands) -> None:
    token = add_group(commands, "token", "SCIM bearer tokens")

    create = add_command(token, "create", "create a token and print it (once)", as_operator(_create))
    add_org(create)
    create.add_argument("--label", required=True, help="names the caller in every audit event, e.g. okta-prod")
    create.add_argument(
        "--expires-at", default=None, help="ISO 8601 time when the token stops working (default: never)"
    )

    listing = add_command(token, "list", "list tokens (never their secrets)", as_operator(_list))
    add_org(listing)
    add_json(listing)

    revoke = add_command(token, "revoke", "revoke a token at once", as_operator(_revoke))
    add_org(revoke)
    revoke.add_argument("id", help="the token's id (token list)")

    rotate = add_command(
        token, "rotate", "issue a replacement; the old token works until the grace period ends", as_operator(_rotate)
    )
    add_org(rotate)
    rotate.add_argument("id", help="the token's id (token list)")
    until = rotate.add_mutually_exclusive_group()
    until.add_argument(
        "--grace",
        type=int,
        default=None,
        metavar="SECONDS",
        help="how long the old token keeps working (default: it stops now)",
    )
    until.add_argument("--expires-old-at", default=None, help="ISO 8601 time when the old token stops")
    rotate.add_argument("--label", default=None, help="the new token's label (default: the old one's)")


async def _create(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    token = await svc.create_token(acting, args.label, when(args.expires_at))
    print(f"SCIM token {token.label} ({token.prefix}) created, id {token.id}.")
    print(f"Token: {token.token}")
    print("Store the token now: it is shown only once.")


async def _list(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    tokens = await svc.list_tokens(acting)
    if args.json:
        print_json(records(tokens))
        return
    table(
        ("ID", "LABEL", "PREFIX", "STATE", "CREATED", "LAST USED", "EXPIRES"),
        [
            (t.id, t.label, t.prefix, t.state, moment(t.created_at), moment(t.last_used_at), moment(t.expires_at))
            for t in tokens
        ],
    )


async def _revoke(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    token = await svc.revoke_token(acting, args.id)
    print(f"SCIM token {token.label} ({token.prefix}) revoked.")


async def _rotate(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    until = when(args.expires_old_at)
    if args.grace is not None:
        until = datetime.now(UTC) + timedelta(seconds=args.grace)
    token = await svc.rotate_token(acting, args.id, old_expires_at=until, label=args.label)
    print(
        f"SCIM token {token.label} ({token.prefix}) created, id {token.id}; "
        f"the old token stops at {moment(until or datetime.now(UTC))}."
    )
    print(f"Token: {token.token}")
    print("Store the token now: it is shown only once.")
