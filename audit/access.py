"""Who is calling the audit admin endpoints, as the host application vouches for it.

The audit sub-apps (``/api/v1/audit``, ``/api/v1/streams``) do not authenticate anyone
themselves: the host hands them an :data:`Authorize` callback that turns a request into a
:class:`Caller`, or ``None`` when the request carries no valid admin credential.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request

from .events import Actor, RequestContext

__all__ = ["Authorize", "Caller", "Role"]

Role = Literal["admin", "auditor"]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who acts, in which organisation (slug), with which role, from where.

    The audit events a call records take their organisation, actor and context from it. The
    admin endpoints need a ``role``; a caller without one (a SCIM client) is refused there. A
    host that knows more about its callers subclasses this class (``scim_server.services.Caller``
    adds the organisation's row id and the SCIM base URL).
    """

    organization: str
    actor: Actor
    role: Role | None = None
    #: Where the request came from, copied into the audit events the call records.
    context: RequestContext = field(default_factory=RequestContext)


#: ``await authorize(request)`` → the caller, or ``None`` for a missing or invalid credential.
Authorize = Callable[[Request], Awaitable[Caller | None]]
