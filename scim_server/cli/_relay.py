"""``scimtrail relay``: the audit relay on its own (``SCIMTRAIL_RELAY=external``), or as the child
``scimtrail serve`` starts beside itself (``--parent-pid``; see ``scim_server.relay_placement``)."""

from __future__ import annotations

import argparse

from .. import relay_placement
from ..app import build_relay, configure
from ..secret_key import resolve_secret_key
from ..settings import Settings
from ..storage.engine import Database
from ._shared import Commands, add_command, with_database

__all__ = ["register"]


def register(commands: Commands) -> None:
    relay = add_command(commands, "relay", "run the audit relay (sealing and log-stream delivery) on its own", _relay)
    relay.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        metavar="PID",
        help="started by the server with this pid: stop when it does, and leave outbox pruning to it",
    )
    relay.add_argument(
        "--metrics-file",
        default=None,
        metavar="PATH",
        help="write the relay's Prometheus counters here every second (the server serves them at /metrics)",
    )


def _relay(args: argparse.Namespace, settings: Settings) -> int:
    configure(settings)
    key = resolve_secret_key(settings)

    async def go(db: Database) -> int:
        relay = build_relay(db, settings, key, prune_interval=relay_placement.prune_interval(args.parent_pid))
        await relay_placement.run_relay(relay, parent_pid=args.parent_pid, metrics_file=args.metrics_file)
        return 0

    try:
        return with_database(settings, go)
    except KeyboardInterrupt:
        # Ctrl-C before the signal handlers are in place: stopping is what was asked for.
        return 0
