"""``scimtrail oauth-client``: OAuth 2.0 clients (client credentials grant)."""

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
    client = add_group(commands, "oauth-client", "OAuth 2.0 clients (client credentials grant)")

    create = add_command(client, "create", "create a client and print its secret (once)", as_operator(_create))
    add_org(create)
    create.add_argument("--label", required=True, help="names the caller in every audit event, e.g. entra-prod")

    listing = add_command(client, "list", "list clients (never their secrets)", as_operator(_list))
    add_org(listing)
    add_json(listing)

    rotate = add_command(client, "rotate-secret", "replace a client's secret", as_operator(_rotate_secret))
    add_org(rotate)
    rotate.add_argument("id", help="the client's id (oauth-client list)")

    revoke = add_command(client, "revoke", "revoke a client and its access tokens", as_operator(_revoke))
    add_org(revoke)
    revoke.add_argument("id", help="the client's id (oauth-client list)")


async def _create(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    client = await svc.create_client(acting, args.label)
    print(f"OAuth client {client.label} created, id {client.id}.")
    print(f"client_id:     {client.client_id}")
    print(f"client_secret: {client.client_secret}")
    print(
        "Store the secret now: it is shown only once. Token endpoint: POST /oauth/token (grant_type=client_credentials)."
    )


async def _list(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    clients = await svc.list_clients(acting)
    if args.json:
        print_json(records(clients))
        return
    table(
        ("ID", "LABEL", "CLIENT ID", "STATE", "CREATED", "LAST USED"),
        [(c.id, c.label, c.client_id, c.state, moment(c.created_at), moment(c.last_used_at)) for c in clients],
    )


async def _rotate_secret(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    client = await svc.rotate_client_secret(acting, args.id)
    print(f"OAuth client {client.label}: new client_secret: {client.client_secret}")
    print("The old secret no longer works. Store the new one now: it is shown only once.")


async def _revoke(svc: Credentials, acting: Caller, args: argparse.Namespace) -> None:
    client = await svc.revoke_client(acting, args.id)
    print(f"OAuth client {client.label} revoked; its access tokens no longer work.")
