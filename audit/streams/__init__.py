"""Log streams: each organisation's SIEM destinations, their management API and secrets."""

from .api import create_streams_app, streams_section
from .crypto import SecretBox, SecretBoxError
from .model import STATES, Stream, StreamFilter
from .service import StreamError, StreamService
from .tables import DeadLetterRow, StreamRow

__all__ = [
    "STATES",
    "DeadLetterRow",
    "SecretBox",
    "SecretBoxError",
    "Stream",
    "StreamError",
    "StreamRow",
    "StreamFilter",
    "StreamService",
    "create_streams_app",
    "streams_section",
]
