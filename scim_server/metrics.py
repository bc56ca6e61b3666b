"""The HTTP side of /metrics: request counts and latency, labelled coarsely to keep cardinality low."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram, generate_latest

__all__ = ["REGISTRY", "REQUEST_SECONDS", "area_of", "exposition"]

REGISTRY = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "scimtrail_http_request_duration_seconds",
    "Time to answer an HTTP request, by area (scim, admin, oauth, other), method and status class.",
    ["area", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
    registry=REGISTRY,
)

_AREAS = (("/scim/", "scim"), ("/api/", "admin"), ("/oauth/", "oauth"))


def area_of(path: str) -> str:
    for prefix, area in _AREAS:
        if path.startswith(prefix):
            return area
    return "other"


def exposition() -> bytes:
    return generate_latest(REGISTRY)
