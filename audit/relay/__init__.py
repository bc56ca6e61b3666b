"""The relay: seals the outbox into the hash-chained log and runs delivery beside it."""

from .lease import Lease, LeaseLost
from .runner import Relay, RelayContext, Stage, prune_outbox_forever

__all__ = ["Lease", "LeaseLost", "Relay", "RelayContext", "Stage", "prune_outbox_forever"]
