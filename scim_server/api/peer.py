"""Who is at the other end of the connection: X-Forwarded-* is believed only from trusted proxies.

One implementation serves every API: :mod:`audit.http` builds the request context audit events
record, and SCIM, OAuth and the admin guard ask it the same questions.
"""

from __future__ import annotations

from audit.http import Networks, client_ip, from_trusted_proxy

__all__ = ["Networks", "client_ip", "from_trusted_proxy"]
