"""HTTP endpoints: thin Starlette handlers that parse, call a service, and render."""

from .errors import exception_handlers
from .middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from .scim import scim_routes
from .scim_auth import ScimAuthMiddleware

__all__ = [
    "BodySizeLimitMiddleware",
    "RequestContextMiddleware",
    "ScimAuthMiddleware",
    "exception_handlers",
    "scim_routes",
]
