"""Event formats for log streams: the canonical event re-shaped for the receiving SIEM."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._summary import summarize
from .cef import encode_cef
from .native import encode_native
from .ocsf import OCSF_VERSION, encode_ocsf

__all__ = [
    "FORMATS",
    "OCSF_VERSION",
    "Encoder",
    "encode_cef",
    "encode_native",
    "encode_ocsf",
    "get_encoder",
    "summarize",
]

#: canonical event → what the sink puts on the wire for it (a JSON value, or a line of text).
Encoder = Callable[[Mapping[str, Any]], Any]

FORMATS: Mapping[str, Encoder] = {"native": encode_native, "ocsf": encode_ocsf, "cef": encode_cef}


def get_encoder(name: str) -> Encoder:
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown format {name!r}; expected one of {sorted(FORMATS)}") from None
