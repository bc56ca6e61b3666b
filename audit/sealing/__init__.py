"""Sealing outbox rows into the hash-chained log, one :class:`Sealer` per engine.

SQLite keeps a watermark (:mod:`.watermark`), PostgreSQL deletes as it seals
(:mod:`.delete_as_sealed`); each module says why. :func:`audit.backends.backend_for` picks one.
"""

from .base import LINKED_COLUMNS, Sealer, SealResult, link
from .delete_as_sealed import DeletingSealer
from .watermark import WatermarkSealer

__all__ = ["LINKED_COLUMNS", "DeletingSealer", "SealResult", "Sealer", "WatermarkSealer", "link"]
