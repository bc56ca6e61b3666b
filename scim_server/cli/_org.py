"""``scimtrail org``: organisations."""

from __future__ import annotations

import argparse

from ..services.organizations import create_organization
from ..settings import Settings
from ..storage.engine import Database
from ._shared import Commands, add_command, add_group, with_database

__all__ = ["register"]


def register(commands: Commands) -> None:
    org = add_group(commands, "org", "organisations")
    create = add_command(org, "create", "create an organisation and print its first SCIM token", _create)
    create.add_argument("slug", help="the organisation's short name, as in URLs and audit events")
    create.add_argument("--name", default=None, help="its display name (default: the slug)")
    create.add_argument("--token-label", default="default", help="the first SCIM token's label")


def _create(args: argparse.Namespace, settings: Settings) -> int:
    async def go(db: Database) -> int:
        issued = await create_organization(db, args.slug, args.name, args.token_label)
        print(f"Organisation: {args.slug}")
        print(f"SCIM token ({issued.label}): {issued.token}")
        print("Store the token now: it is shown only once.")
        return 0

    return with_database(settings, go)
