"""The ``/api/v1`` API: the admin operations, and audit's sections mounted beside them.

Admins do everything here; auditors are refused (403) and read the audit log through the audit
section, which :meth:`Guard.authorize` authenticates for; SCIM credentials are not accepted (401).
Everything is built with :mod:`audit.http`: one error shape, one body reader, one OpenAPI document.
"""

from ._api import INFO, api_v1, openapi_document
from ._errors import SERVICE_ERRORS
from ._guard import Guard
from ._operations import OPERATIONS, Admin, admin_section, admins_of

__all__ = [
    "INFO",
    "OPERATIONS",
    "SERVICE_ERRORS",
    "Admin",
    "Guard",
    "admin_section",
    "admins_of",
    "api_v1",
    "openapi_document",
]
