"""The one way an API endpoint reads its JSON body: bounded, typed, and with no field it did not ask for."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import orjson
from starlette.requests import Request

from ._errors import ApiError

__all__ = ["DEFAULT_MAX_BODY_BYTES", "read_json_object"]

#: Every admin document is a few hundred bytes; 64 KiB leaves room and bounds what a caller can make us parse.
DEFAULT_MAX_BODY_BYTES = 64 * 1024


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, "too_large", f"The request body exceeds {max_bytes} bytes.", details={"max_bytes": max_bytes})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def _read(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)  # refused before reading a byte of it
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(
    request: Request, fields: Collection[str] = (), *, max_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> dict[str, Any]:
    """The body as a JSON object with only ``fields`` in it; no body at all is ``{}``.

    413 ``too_large`` over ``max_bytes``; 415 ``unsupported_media_type`` for a declared non-JSON type;
    400 ``invalid_json``, ``invalid_request`` (not an object) or ``unknown_field``.
    """
    raw = await _read(request, max_bytes)
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type")
    # No Content-Type at all is read as JSON (clients that send bare bytes mean JSON here); a
    # declared other type (a form, text) is refused rather than guessed at.
    if content_type is not None and not _is_json(content_type):
        raise ApiError(
            415,
            "unsupported_media_type",
            "The request body must be JSON (Content-Type: application/json).",
            details={"content_type": content_type},
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400, "invalid_json", f"The request body is not valid JSON: {exc.msg} at position {exc.pos}."
        ) from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        accepted = sorted(fields)
        hint = f"accepted: {', '.join(accepted)}" if accepted else "this operation takes no body fields"
        raise ApiError(
            400,
            "unknown_field",
            f"Unknown body field(s): {', '.join(unknown)} ({hint}).",
            details={"unknown": unknown, "accepted": accepted},
        )
    return body
