"""Constants for the pure log-stream tests (the database-backed helpers are in tests/integration/streams)."""

from __future__ import annotations

#: The Standard Webhooks example secret; the integration tests' receivers verify with the same one.
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
