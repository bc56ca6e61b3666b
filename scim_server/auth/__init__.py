"""Credentials: issuing, hashing and checking them, and the Principal they resolve to."""

from .authenticate import AuthenticationFailed, authenticate_bearer
from .principal import Principal, PrincipalKind

__all__ = ["AuthenticationFailed", "Principal", "PrincipalKind", "authenticate_bearer"]
