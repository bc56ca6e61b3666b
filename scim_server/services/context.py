"""What a service call knows about its caller."""

from __future__ import annotations

from dataclasses import dataclass

import audit
from scim_server.auth import Principal

__all__ = ["Caller"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller(audit.Caller):
    """:class:`audit.Caller` as this server knows it: who acts, in which organisation, from where.

    Adds the organisation's row id, which scopes every query, and, for SCIM calls, the base URL
    the client used (``https://host/scim/v2``), for locations; empty elsewhere.
    """

    org_id: int
    base_url: str = ""

    @classmethod
    def of(cls, principal: Principal, context: audit.RequestContext, *, base_url: str = "") -> Caller:
        """The caller an authenticated ``principal`` makes; admin and auditor keys carry their role."""
        return cls(
            organization=principal.org_slug,
            actor=audit.Actor(type=principal.kind, name=principal.name),
            role=principal.kind if principal.kind in ("admin", "auditor") else None,
            context=context,
            org_id=principal.org_id,
            base_url=base_url,
        )
