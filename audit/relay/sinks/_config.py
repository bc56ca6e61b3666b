"""Small checks shared by the sinks' ``validate`` methods."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ._base import SinkConfigError

__all__ = ["check_known", "optional_bool", "optional_number", "optional_str", "required_str", "required_url"]


def check_known(config: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        raise SinkConfigError(f"unknown config field(s): {', '.join(unknown)}")


def required_str(config: Mapping[str, Any], name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SinkConfigError(f"config.{name} is required and must be a non-empty string")
    return value.strip()


def optional_str(config: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    value = config.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SinkConfigError(f"config.{name} must be a non-empty string")
    return value.strip()


def optional_bool(config: Mapping[str, Any], name: str, default: bool) -> bool:
    value = config.get(name, default)
    if not isinstance(value, bool):
        raise SinkConfigError(f"config.{name} must be true or false")
    return value


def optional_number(config: Mapping[str, Any], name: str, default: float, *, low: float, high: float) -> float:
    value = config.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SinkConfigError(f"config.{name} must be a number between {low:g} and {high:g}")
    return float(value)


def required_url(config: Mapping[str, Any], name: str) -> str:
    value = required_str(config, name)
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SinkConfigError(f"config.{name} must be an http(s) URL")
    if parts.username or parts.password:
        raise SinkConfigError(f"config.{name} must not carry credentials; use the secret fields")
    return value.rstrip("/")
