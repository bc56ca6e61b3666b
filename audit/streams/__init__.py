"""Log streams: each organisation's SIEM destinations, their management API and secrets."""

from .api import create_streams_app, streams_section
from .crypto import SecretBox, SecretBoxError
from .model import STATES, EventFilter, Stream
from .service import StreamError, StreamService
from .tables import DeadLetterRow, StreamRow

__all__ = [
    "STATES",
    "DeadLetterRow",
    "EventFilter",
    "SecretBox",
    "SecretBoxError",
    "Stream",
    "StreamError",
    "StreamRow",
    "StreamService",
    "create_streams_app",
    "streams_section",
]
