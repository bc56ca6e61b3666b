"""Helpers for testing code built on audit, and hosts of it.

:mod:`audit.testing.contract` holds :class:`~audit.testing.contract.AuditHostContract`, the tests
every host must pass; it needs pytest, so it is imported on its own, not from here.
"""

__all__: list[str] = []
