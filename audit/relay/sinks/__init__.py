"""Sinks: where log streams deliver, one module per destination type, registered by name."""

from __future__ import annotations

from collections.abc import Mapping

from ._base import Batch, Delivered, Outcome, Rejected, RejectScope, Retry, Sink, SinkConfigError, SinkContext
from ._destinations import DestinationPolicy, DestinationRefused, destination_host
from .datadog import DatadogSink
from .s3 import S3Sink
from .splunk_hec import SplunkHecSink
from .syslog import SyslogSink
from .webhook import WebhookSink

__all__ = [
    "DatadogSink",
    "S3Sink",
    "SplunkHecSink",
    "SyslogSink",
    "WebhookSink",
    "Batch",
    "Delivered",
    "DestinationPolicy",
    "DestinationRefused",
    "Outcome",
    "RejectScope",
    "Rejected",
    "Retry",
    "SINKS",
    "Sink",
    "SinkConfigError",
    "SinkContext",
    "destination_host",
    "get_sink",
    "register",
]

_registry: dict[str, type[Sink]] = {}
#: type name → sink class; read-only view of the registry.
SINKS: Mapping[str, type[Sink]] = _registry


def register(sink: type[Sink]) -> type[Sink]:
    """Make a sink type available to streams under ``sink.type_name`` (usable as a decorator)."""
    existing = _registry.get(sink.type_name)
    if existing is not None and existing is not sink:
        raise ValueError(f"sink type {sink.type_name!r} is already registered")
    _registry[sink.type_name] = sink
    return sink


def get_sink(type_name: str) -> type[Sink]:
    try:
        return _registry[type_name]
    except KeyError:
        raise SinkConfigError(f"unknown stream type {type_name!r}; expected one of {sorted(_registry)}") from None


for _sink in (WebhookSink, SplunkHecSink, DatadogSink, S3Sink, SyslogSink):
    register(_sink)
