"""Use cases: SCIM provisioning and organisations, each write one transaction with its audit events."""

from .bulk import run_bulk
from .context import Caller
from .provisioning import Preconditions, Provisioning, Result

__all__ = ["Caller", "Preconditions", "Provisioning", "Result", "run_bulk"]
