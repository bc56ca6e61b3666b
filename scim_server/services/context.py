"""What a service call knows about its caller."""

from __future__ import annotations

from dataclasses import dataclass

import audit
from scim_server.auth import Principal

__all__ = ["Caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    request: audit.RequestContext
    #: Absolute SCIM base URL as the client sees it (``https://host/scim/v2``), for locations.
    base_url: str

    @property
    def actor(self) -> audit.Actor:
        return audit.Actor(type=self.principal.kind, name=self.principal.name)

    @property
    def org_id(self) -> int:
        return self.principal.org_id

    @property
    def org(self) -> str:
        return self.principal.org_slug
