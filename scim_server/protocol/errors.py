"""SCIM errors as data: each carries its HTTP status and ``scimType`` (RFC 7644 §3.12).

Raise them where the problem is found; one handler renders them.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ERROR_SCHEMA",
    "ScimError",
    "InvalidSyntax",
    "InvalidFilter",
    "InvalidPath",
    "NoTarget",
    "InvalidValue",
    "Mutability",
    "Uniqueness",
    "TooMany",
    "InvalidVersion",
    "Sensitive",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "PreconditionFailed",
    "PayloadTooLarge",
    "TooManyRequests",
    "NotImplementedFeature",
]

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(Exception):
    status: ClassVar[int] = 400
    scim_type: ClassVar[str | None] = None
    default_detail: ClassVar[str] = "Bad request."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        super().__init__(self.detail)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status), "detail": self.detail}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


class BadRequest(ScimError):
    """400 without a more specific ``scimType``."""


class InvalidFilter(ScimError):
    """RFC 7644 §3.12: the filter syntax was invalid or the attribute/operator is unsupported."""

    scim_type = "invalidFilter"
    default_detail = "The specified filter syntax was invalid or the attribute is not supported."


class TooMany(ScimError):
    """RFC 7644 §3.12: the filter yields more results than the server will return."""

    scim_type = "tooMany"
    default_detail = "The request would return too many results."


class Uniqueness(ScimError):
    """RFC 7644 §3.12: one or more unique attribute values are already in use."""

    status = 409
    scim_type = "uniqueness"
    default_detail = "One or more of the attribute values are already in use or are reserved."


class Mutability(ScimError):
    """RFC 7644 §3.12: the change is incompatible with an attribute's mutability."""

    scim_type = "mutability"
    default_detail = "The attempted modification is not compatible with the attribute's mutability."


class InvalidSyntax(ScimError):
    """RFC 7644 §3.12: the request body is not valid JSON or not a valid SCIM message."""

    scim_type = "invalidSyntax"
    default_detail = "The request body message structure was invalid."


class InvalidPath(ScimError):
    """RFC 7644 §3.12: the PATCH ``path`` is invalid or does not name an attribute."""

    scim_type = "invalidPath"
    default_detail = "The path attribute was invalid or malformed."


class NoTarget(ScimError):
    """RFC 7644 §3.12: the PATCH ``path`` matched nothing where a match is required."""

    scim_type = "noTarget"
    default_detail = "The specified path did not yield an attribute or attribute value."


class InvalidValue(ScimError):
    """RFC 7644 §3.12: a required value was missing or a value is not compatible."""

    scim_type = "invalidValue"
    default_detail = "A required value was missing, or the value specified was not compatible."


class InvalidVersion(ScimError):
    scim_type = "invalidVers"
    default_detail = "The specified SCIM protocol version is not supported."


class Sensitive(ScimError):
    """RFC 7644 §3.12: the request cannot be completed because of sensitive information in the URI."""

    status = 403
    scim_type = "sensitive"
    default_detail = "Sensitive information such as filters must be sent with POST /.search."


class Unauthorized(ScimError):
    status = 401
    default_detail = "Authorization failure: a valid bearer credential is required."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="scim"'})


class Forbidden(ScimError):
    status = 403
    default_detail = "This credential may not perform the operation."


class NotFound(ScimError):
    status = 404
    default_detail = "Resource not found."


class MethodNotAllowed(ScimError):
    status = 405
    default_detail = "Method not allowed on this endpoint."


class Conflict(ScimError):
    status = 409
    default_detail = "The request conflicts with the current state of the resource."


class PreconditionFailed(ScimError):
    """RFC 7644 §3.14: ``If-Match`` did not match the resource's current version."""

    status = 412
    default_detail = "The resource has changed since the version named in If-Match."


class PayloadTooLarge(ScimError):
    status = 413
    scim_type = "tooLarge"
    default_detail = "The request body is larger than this server accepts."


class TooManyRequests(ScimError):
    status = 429
    default_detail = "Too many requests for this credential; retry later."


class NotImplementedFeature(ScimError):
    status = 501
    default_detail = "This operation is not supported by this service provider."
