"""Who is calling: the credential decides the organisation and what it may reach."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Principal", "PrincipalKind"]

PrincipalKind = Literal["scim_token", "oauth_client", "admin", "auditor"]


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: int
    org_slug: str
    kind: PrincipalKind
    #: The customer-facing name used as the audit actor: a token or client label, an account email.
    name: str
    #: The credential's own id (for revocation checks, rate limiting, last_used_at); never shown.
    credential_id: str

    @property
    def is_scim(self) -> bool:
        return self.kind in ("scim_token", "oauth_client")
