"""Use cases: SCIM provisioning and organisations, each write one transaction with its audit events."""

from .context import Caller
from .bulk import run_bulk
from .provisioning import Preconditions, Provisioning, Result

__all__ = ["Caller", "Preconditions", "Provisioning", "Result", "run_bulk"]
