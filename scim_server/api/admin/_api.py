"""The whole ``/api/v1`` app: the admin section, audit's sections beside it, one document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request

from audit.http import DEFAULT_MAX_BODY_BYTES, ApiInfo, Section, api_app
from audit.http import openapi_document as _document
from scim_server.services.credentials import Credentials

from ._errors import SERVICE_ERRORS
from ._guard import Guard
from ._operations import Admin, admin_section, admins_of

__all__ = ["INFO", "api_v1", "openapi_document"]

INFO = ApiInfo(
    title="scimtrail admin API",
    description="Manage an organisation's SCIM tokens, OAuth clients and admin/auditor accounts, read and export its "
    "audit log (/audit) and manage its log streams (/streams). Authenticate with a personal API key: "
    "`Authorization: Bearer sk_…`. Secrets appear once, in the answer that creates them. Auditors may only read "
    'and export the audit log. Every error is `{"error": code, "message": …}`; unknown query parameters and '
    "body fields are refused with 400.",
    security_scheme="adminKey",
    security_description="sk_<prefix>_<secret>",
)


def api_v1(
    credentials: Credentials,
    guard: Guard,
    sections: Sequence[Section[Any]] = (),
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """The whole ``/api/v1`` app: the admin operations and ``sections`` (audit's), to mount at ``/api/v1``."""
    admin = admin_section(admins_of(credentials, guard))
    return api_app([admin, *sections], INFO, errors=SERVICE_ERRORS, max_body_bytes=max_body_bytes)


async def _described_only(request: Request) -> Admin:
    raise RuntimeError("this section only describes the operations")


def openapi_document(sections: Sequence[Section[Any]] = ()) -> dict[str, Any]:
    """The document of the admin operations and ``sections``, as served (less ``/openapi.json`` itself)."""
    return _document([admin_section(_described_only), *sections], INFO)
