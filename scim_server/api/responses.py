"""Request bodies in, SCIM JSON out."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from scim_server.protocol.errors import InvalidSyntax

__all__ = ["ScimResponse", "read_json", "SCIM_MEDIA_TYPE"]

SCIM_MEDIA_TYPE = "application/scim+json"


class ScimResponse(JSONResponse):
    media_type = SCIM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def read_json(request: Request) -> Any:
    """The parsed body; malformed JSON or a non-UTF-8 body is ``400 invalidSyntax``."""
    raw = await request.body()
    if not raw.strip():
        raise InvalidSyntax("The request body is empty; a JSON object is required.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidSyntax(f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
