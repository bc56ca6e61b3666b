"""ArcSight CEF (rev. 23): one line per event, as SIEM parsers of syslog payloads expect it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ._summary import summarize, target_names

__all__ = ["encode_cef"]

_VENDOR = "scimtrail"
_PRODUCT = "SCIM Server"
_PRODUCT_VERSION = "1"
#: CEF severity 0–10: a refused credential is worth a look, everything else is informational.
_SEVERITY = {"credential.rejected": 5}


def _header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _extension(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace("=", "\\=").replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    )


def _epoch_ms(occurred_at: str) -> int:
    return int(datetime.fromisoformat(occurred_at).timestamp() * 1000)


def encode_cef(event: Mapping[str, Any]) -> str:
    action = str(event["action"])
    summary = summarize(event)
    context = event.get("context") or {}
    users = [t.get("name") for t in event.get("targets") or () if t.get("type") == "user"]
    targets = users or target_names(event)
    fields: list[tuple[str, str | None]] = [
        ("rt", str(_epoch_ms(event["occurred_at"]))),
        ("act", action),
        ("cat", str(event.get("category", ""))),
        ("suser", (event.get("actor") or {}).get("name")),
        ("duser", targets[0] if targets else None),
        ("src", context.get("ip")),
        ("requestClientApplication", context.get("user_agent")),
        ("outcome", "failure" if action == "credential.rejected" else "success"),
        ("cs1Label", "organization"),
        ("cs1", str(event.get("organization", ""))),
        ("externalId", str(event.get("id", ""))),
        ("msg", summary),
    ]
    extension = " ".join(f"{key}={_extension(value)}" for key, value in fields if value)
    header = "|".join(
        _header(part) for part in (_VENDOR, _PRODUCT, _PRODUCT_VERSION, action, summary, str(_SEVERITY.get(action, 3)))
    )
    return f"CEF:0|{header}|{extension}"
