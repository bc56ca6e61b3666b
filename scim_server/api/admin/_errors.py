"""The service layer's errors as API errors: the one translation the host adds to audit's table."""

from __future__ import annotations

from audit.http import ApiError, Translations, code_for
from scim_server.protocol.errors import ScimError

__all__ = ["SERVICE_ERRORS"]


def _service_error(exc: Exception) -> ApiError:
    assert isinstance(exc, ScimError)
    # A value the service refused is well-formed JSON with a wrong value: 422, as for body fields.
    status = 422 if exc.scim_type == "invalidValue" else exc.status
    return ApiError(status, code_for(status), exc.detail, headers=exc.headers)


#: The services raise the SCIM error classes (they serve /scim/v2 too); here they read as API errors.
SERVICE_ERRORS: Translations = {ScimError: _service_error}
