"""The log-stream helpers of tests/integration/streams, for the tests that run the relay as a process."""

from __future__ import annotations

from tests.integration.streams.conftest import SECRET_KEY, WEBHOOK_SECRET, create_stream, seed, stage, stream_row

__all__ = ["SECRET_KEY", "WEBHOOK_SECRET", "create_stream", "seed", "stage", "stream_row"]
