"""Credentials: issuing, hashing and checking them, and the Principal they resolve to."""

from .authenticate import Audience, AuthenticationFailed, Authenticator
from .changes import credentials_changed
from .principal import Principal, PrincipalKind
from .rate_limit import RateLimiter

__all__ = [
    "Audience",
    "AuthenticationFailed",
    "Authenticator",
    "Principal",
    "PrincipalKind",
    "RateLimiter",
    "credentials_changed",
]
